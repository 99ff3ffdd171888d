import BridgeCore
import Foundation
import RedisClient

/// The accounting check of the bridge's promise: every message the exchange sent on a
/// subscribed stream is either an entry in that Redis Stream or inside the window of a `gap`
/// marker in that stream.
///
/// It reads the simulator's ground-truth log (``SimGroundTruth``: every message with its send
/// time and the connections it went to) and the Redis streams, and reports per stream:
/// messages delivered, messages inside a declared gap, messages unaccounted (must be zero),
/// duplicates (an entry written twice, must be zero) and entries altered (a field whose value
/// differs from what was sent, must be zero).
///
/// A missing message is inside a gap when a `gap` marker sits, in stream order, between the
/// entries of the delivered messages sent just before and just after it (so clocks do not
/// matter), or — when no delivered message follows it — when its send time lies in a
/// marker's `[gap_start_us, gap_end_us]` window.
struct Accounting {
    struct Stream: CustomStringConvertible {
        let key: String
        var sent = 0
        var delivered = 0
        var inGap = 0
        var unaccounted = 0
        var duplicates = 0
        var altered = 0
        /// Where the stream's own sequence (aggregate trade ids, the depth `pu` chain) breaks
        /// with no `gap` marker in between: a loss the log cannot show (a message the exchange
        /// never wrote to a stalled socket is not in it). Must be zero.
        var sequenceBreaks = 0
        var gapMarkers = 0
        var gapReasons: [String: Int] = [:]
        /// The sum of the `dropped` counts of the stream's `overflow` markers.
        var overflowDropped = 0
        /// A few unaccounted or altered messages, for the failure message.
        var examples: [String] = []

        var description: String {
            "\(key): sent \(sent), delivered \(delivered), in gaps \(inGap), unaccounted \(unaccounted), duplicates \(duplicates), altered \(altered), sequence breaks \(sequenceBreaks), "
                + "gap markers \(gapMarkers) \(gapReasons.sorted { $0.key < $1.key }), overflow dropped \(overflowDropped)\(examples.isEmpty ? "" : " e.g. \(examples.prefix(3))")"
        }
    }

    typealias Entry = (id: String, fields: [String: String])

    /// One message of the log (array payloads expanded to their rows).
    struct Sent {
        let sendTime: Int64
        let payload: JSONValue
    }

    let streams: [Stream]
    var unaccounted: Int { streams.reduce(0) { $0 + $1.unaccounted } }
    var duplicates: Int { streams.reduce(0) { $0 + $1.duplicates } }
    var altered: Int { streams.reduce(0) { $0 + $1.altered } }
    var sequenceBreaks: Int { streams.reduce(0) { $0 + $1.sequenceBreaks } }
    var inGap: Int { streams.reduce(0) { $0 + $1.inGap } }
    var delivered: Int { streams.reduce(0) { $0 + $1.delivered } }
    var gapMarkers: Int { streams.reduce(0) { $0 + $1.gapMarkers } }
    /// Whether the promise holds.
    var holds: Bool { unaccounted == 0 && duplicates == 0 && altered == 0 && sequenceBreaks == 0 }

    /// The log at `path`, per `market:stream`, in send order.
    static func readLog(_ path: String) throws -> [String: [Sent]] {
        var log: [String: [Sent]] = [:]
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            guard let record = JSONValue.parse(Array(line.utf8)), let market = record["market"]?.string, let stream = record["stream"]?.string,
                  let time = record["send_time_us"]?.integer, let payload = record["payload"] else { continue }  // a fault line has no payload
            for row in payload.array ?? [payload] { log[market + ":" + stream, default: []].append(Sent(sendTime: time, payload: row)) }
        }
        return log
    }

    /// Accounts `streams` (`(market, stream)`) of `log` against Redis under `prefix`, for the
    /// messages sent in `window` (µs, wall clock): from the subscription on, up to a time
    /// whose messages have all had time to arrive.
    static func check(
        log: [String: [Sent]], streams: [(market: String, stream: String)], prefix: String, redis: RedisConnection, window: ClosedRange<Int64>
    ) async throws -> Accounting {
        var result: [Stream] = []
        for (market, stream) in streams {
            let entries = try await streamEntries("\(prefix):\(market):\(stream)", redis: redis)
            let sent = (log[market + ":" + stream] ?? []).filter { window.contains($0.sendTime) }
            result.append(account(key: market + ":" + stream, sent: sent, entries: entries))
        }
        return Accounting(streams: result)
    }

    static func account(key: String, sent: [Sent], entries: [Entry]) -> Stream {
        var account = Stream(key: key)
        account.sent = sent.count
        // Entries by identity (type, symbol, ids / event time), with their position.
        var positions: [String: [Int]] = [:]
        var gaps: [(position: Int, start: Int64, end: Int64)] = []
        for (position, entry) in entries.enumerated() {
            switch entry.fields["type"] {
            case "gap":
                account.gapMarkers += 1
                account.gapReasons[entry.fields["reason"] ?? "?", default: 0] += 1
                if entry.fields["reason"] == "overflow" { account.overflowDropped += entry.fields["dropped"].flatMap(Int.init) ?? 0 }
                gaps.append((position, entry.fields["gap_start_us"].flatMap(Int64.init) ?? .min, entry.fields["gap_end_us"].flatMap(Int64.init) ?? .max))
            case "status", "depth_snapshot", nil:
                break
            case let type?:
                positions[Self.identity(type: type, symbol: entry.fields["symbol"], entry.fields), default: []].append(position)
            }
        }
        // The stream's own sequence, per symbol, restarted by every gap marker.
        var lastId: [String: Int64] = [:]
        for entry in entries {
            let fields = entry.fields
            let symbol = fields["symbol"] ?? ""
            switch fields["type"] {
            case "gap":
                lastId = [:]
            case "agg_trade":
                guard let id = fields["agg_trade_id"].flatMap(Int64.init) else { continue }
                if let last = lastId[symbol], id == last { continue }  // a repeat: counted as a duplicate
                if let last = lastId[symbol], id != last + 1 {
                    account.sequenceBreaks += 1
                    if account.examples.count < 5 { account.examples.append("\(symbol) agg_trade_id \(id) after \(last)") }
                }
                lastId[symbol] = id
            case "depth_update":
                guard let final = fields["final_update_id"].flatMap(Int64.init), let previous = fields["prev_final_update_id"].flatMap(Int64.init) else { continue }
                if let last = lastId[symbol], final == last { continue }  // a repeat: counted as a duplicate
                if let last = lastId[symbol], previous != last {
                    account.sequenceBreaks += 1
                    if account.examples.count < 5 { account.examples.append("\(symbol) pu \(previous) after u \(last)") }
                }
                lastId[symbol] = final
            default:
                break
            }
        }
        // Each sent message: its entry's position, or nil.
        var found: [Int?] = []
        found.reserveCapacity(sent.count)
        for message in sent {
            guard let type = Self.entryType(message.payload) else {
                found.append(nil)
                continue
            }
            let identity = Self.identity(type: type, symbol: GroundTruthTests.symbol(of: message.payload), payload: message.payload)
            guard let matches = positions[identity], let first = matches.first else {
                found.append(nil)
                continue
            }
            account.delivered += 1
            if matches.count > 1 { account.duplicates += matches.count - 1 }
            if let difference = Self.difference(entries[first].fields, message.payload, type: entries[first].fields["type"] ?? type) {
                account.altered += 1
                if account.examples.count < 5 { account.examples.append("altered \(identity): \(difference)") }
            }
            found.append(first)
        }
        for (index, position) in found.enumerated() where position == nil {
            let before = found[..<index].last { $0 != nil } ?? nil
            let after = found[(index + 1)...].first { $0 != nil } ?? nil
            let time = sent[index].sendTime
            let covered = gaps.contains { gap in
                if let after { return gap.position < after && gap.position > (before ?? -1) }
                return gap.start <= time && time <= gap.end
            }
            if covered {
                account.inGap += 1
            } else {
                account.unaccounted += 1
                if account.examples.count < 5 { account.examples.append("unaccounted, sent at \(time): \(sent[index].payload.text.prefix(120))") }
            }
        }
        return account
    }

    /// The entry type a payload becomes (by its `e`), or nil for one the bridge writes raw.
    static func entryType(_ payload: JSONValue) -> String? {
        switch payload["e"]?.string {
        case "aggTrade": "agg_trade"
        case "trade": "trade"
        case "bookTicker": "book_ticker"
        case "depthUpdate": "depth_update"
        case "markPriceUpdate": "mark_price"
        case "kline": "kline"
        case "continuous_kline": "continuous_kline"
        case "forceOrder": "liquidation"
        case "24hrTicker": "ticker"
        case "24hrMiniTicker": "mini_ticker"
        case "indexPriceUpdate": "index_price"
        case "contractInfo": "contract_info"
        case "compositeIndex": "composite_index"
        case "assetIndex": "asset_index"
        default: nil
        }
    }

    /// Diff and partial depth share one identity (the same `depthUpdate` payload; the stream
    /// name tells them apart, and each stream is accounted alone).
    static func identity(type: String, symbol: String?, payload: JSONValue) -> String {
        let type = type == "depth_partial" ? "depth_update" : type
        return "\(type)|\(symbol ?? "")|\(GroundTruthTests.identity(of: payload, type: type))"
    }

    static func identity(type: String, symbol: String?, _ fields: [String: String]) -> String {
        let type = type == "depth_partial" ? "depth_update" : type
        return "\(type)|\(symbol ?? "")|\(GroundTruthTests.identity(of: fields, type: type))"
    }

    /// The first mapped field whose value differs from what was sent (decimals compared by
    /// value: the bridge may re-format them at the instrument's precision), or nil.
    static func difference(_ fields: [String: String], _ payload: JSONValue, type: String) -> String? {
        guard let mapping = GroundTruthTests.mappings[type] else { return nil }
        for (field, path, kind) in mapping {
            var value: JSONValue? = payload
            for key in path { value = value?[key] }
            let entry = fields[field]
            let same: Bool
            switch kind {
            case .integer: same = entry == value?.integer.map(String.init)
            case .text: same = entry == value?.string
            case .makerSide: same = entry == (value == .bool(true) ? "sell" : "buy")
            case .orderSide: same = entry == value?.string?.lowercased()
            case .flag: same = entry == (value == .bool(true) ? "1" : "0")
            case .json: same = entry.flatMap { JSONValue.parse(Array($0.utf8)) } == value
            case .decimal, .price, .quantity:
                let sent = value?.string ?? ""
                same = sent.isEmpty ? entry == nil : entry.map(GroundTruthTests.canonical) == GroundTruthTests.canonical(sent)
            case .levels:
                let mine = entry.flatMap { JSONValue.parse(Array($0.utf8)) }?.array ?? []
                let theirs = value?.array ?? []
                same = mine.count == theirs.count && zip(mine, theirs).allSatisfy { a, b in
                    (0..<2).allSatisfy { GroundTruthTests.canonical(a.array?[$0].string ?? "?") == GroundTruthTests.canonical(b.array?[$0].string ?? "!") }
                }
            }
            if !same { return "\(field): entry \(entry ?? "absent"), sent \(value?.text ?? "absent")" }
        }
        return nil
    }
}

import BridgeCore
import Foundation
import RedisClient
import TestSupport

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

    /// One stream's whole history at once: a ``Ledger`` fed everything, then finished.
    static func account(key: String, sent: [Sent], entries: [Entry]) -> Stream {
        var ledger = Ledger(key: key)
        ledger.add(entries)
        for message in sent { ledger.receive(message) }
        return ledger.finished()
    }

    /// One stream's accounting fed in pieces, in order — entries as Redis holds them, sent
    /// messages as the log lists them — so a long run is checked as it goes in bounded memory.
    /// Fed everything at once it is exactly the whole-history check.
    ///
    /// A sent message is matched against the entries read so far when it arrives, so feed a
    /// message only once its entry has had time to be written (``LiveAccounting`` feeds the
    /// log up to a cutoff some seconds old). A message not matched waits with the others since
    /// the last delivered one; the next delivered message decides them (a gap marker between
    /// the two covers them), and each is looked up again first in case its entry came late.
    /// Entries further than `keepBehind` positions behind the last delivered message are
    /// forgotten (``evict()``): a duplicate written later than that is no longer seen as one,
    /// except by the sequence check (trade ids and the `pu` chain), which runs over every entry.
    struct Ledger {
        private(set) var account: Stream
        let keepBehind: Int
        /// Entries from `firstRetained` to `nextPosition`: their Redis ids and identities.
        private var retained: [(id: String, identity: String?)] = []
        private var retainedHead = 0
        private var firstRetained = 0
        private var nextPosition = 0
        /// Identity → the positions of its entries (only the first once it is matched).
        private var positions: [String: [Int]] = [:]
        /// The fields of first entries not yet matched (for the altered check).
        private var fields: [Int: [String: String]] = [:]
        private var matched: Set<String> = []
        /// Every gap marker (few: one per fault and stream at most).
        private var gaps: [(position: Int, start: Int64, end: Int64)] = []
        private var lastId: [String: Int64] = [:]
        /// The position of the last delivered message, and the messages not found since.
        private var before: Int?
        private var pending: [Sent] = []

        init(key: String, keepBehind: Int = 20_000) {
            account = Stream(key: key)
            self.keepBehind = keepBehind
        }

        /// Entries read from the stream, in stream order.
        mutating func add(_ entries: [Entry]) {
            for entry in entries {
                let position = nextPosition
                nextPosition += 1
                var identity: String?
                switch entry.fields["type"] {
                case "gap":
                    account.gapMarkers += 1
                    account.gapReasons[entry.fields["reason"] ?? "?", default: 0] += 1
                    if entry.fields["reason"] == "overflow" { account.overflowDropped += entry.fields["dropped"].flatMap(Int.init) ?? 0 }
                    gaps.append((position, entry.fields["gap_start_us"].flatMap(Int64.init) ?? .min, entry.fields["gap_end_us"].flatMap(Int64.init) ?? .max))
                case "status", "depth_snapshot", nil:
                    break
                case let type?:
                    let key = Accounting.identity(type: type, symbol: entry.fields["symbol"], entry.fields)
                    identity = key
                    if matched.contains(key) {
                        account.duplicates += 1
                    } else {
                        if positions[key] == nil { fields[position] = entry.fields }
                        positions[key, default: []].append(position)
                    }
                }
                checkSequence(entry.fields)
                retained.append((entry.id, identity))
            }
        }

        /// The stream's own sequence, per symbol, restarted by every gap marker.
        private mutating func checkSequence(_ fields: [String: String]) {
            let symbol = fields["symbol"] ?? ""
            switch fields["type"] {
            case "gap":
                lastId = [:]
            case "agg_trade":
                guard let id = fields["agg_trade_id"].flatMap(Int64.init) else { return }
                if let last = lastId[symbol], id == last { return }  // a repeat: counted as a duplicate
                if let last = lastId[symbol], id != last + 1 {
                    account.sequenceBreaks += 1
                    note("\(symbol) agg_trade_id \(id) after \(last)")
                }
                lastId[symbol] = id
            case "depth_update":
                guard let final = fields["final_update_id"].flatMap(Int64.init), let previous = fields["prev_final_update_id"].flatMap(Int64.init) else { return }
                if let last = lastId[symbol], final == last { return }  // a repeat: counted as a duplicate
                if let last = lastId[symbol], previous != last {
                    account.sequenceBreaks += 1
                    note("\(symbol) pu \(previous) after u \(last)")
                }
                lastId[symbol] = final
            default:
                break
            }
        }

        private mutating func note(_ example: String) {
            if account.examples.count < 5 { account.examples.append(example) }
        }

        /// One message the exchange sent on the stream, in send order.
        mutating func receive(_ message: Sent) {
            account.sent += 1
            if let position = match(message) {
                decide(after: position)
                before = position
            } else {
                pending.append(message)
            }
        }

        /// The position of `message`'s entry, counting it delivered (and its duplicates and
        /// alterations), or nil.
        private mutating func match(_ message: Sent) -> Int? {
            guard let type = Accounting.entryType(message.payload) else { return nil }
            let identity = Accounting.identity(type: type, symbol: GroundTruthTests.symbol(of: message.payload), payload: message.payload)
            guard let matches = positions[identity], let first = matches.first else { return nil }
            account.delivered += 1
            guard matched.insert(identity).inserted else { return first }  // the exchange sent it twice
            account.duplicates += matches.count - 1
            positions[identity] = [first]
            if let entry = fields.removeValue(forKey: first), let difference = Accounting.difference(entry, message.payload, type: entry["type"] ?? type) {
                account.altered += 1
                note("altered \(identity): \(difference)")
            }
            return first
        }

        /// Decides the messages waiting since `before`, now that a delivered message at
        /// `after` (nil: none, at the end) follows them.
        private mutating func decide(after: Int?) {
            guard !pending.isEmpty else { return }
            let waiting = pending
            pending = []
            var run: [Sent] = []
            var start = before
            for message in waiting {
                if let position = match(message) {  // its entry came late
                    close(run, before: start, after: position)
                    run = []
                    start = position
                } else {
                    run.append(message)
                }
            }
            close(run, before: start, after: after)
        }

        private mutating func close(_ run: [Sent], before: Int?, after: Int?) {
            guard !run.isEmpty else { return }
            let between = after.map { after in gaps.contains { $0.position < after && $0.position > (before ?? -1) } }
            for message in run {
                let covered = between ?? gaps.contains { $0.start <= message.sendTime && message.sendTime <= $0.end }
                if covered {
                    account.inGap += 1
                } else {
                    account.unaccounted += 1
                    note("unaccounted, sent at \(message.sendTime): \(message.payload.text.prefix(120))")
                }
            }
        }

        /// The account so far, the messages still waiting decided as at the end of the run
        /// (the ledger itself is unchanged, so feeding can go on).
        func finished() -> Stream {
            var copy = self
            copy.decide(after: nil)
            return copy.account
        }

        /// Forgets the entries more than `keepBehind` positions behind the last delivered
        /// message; returns the Redis id of the oldest entry still needed (nil: none forgotten).
        mutating func evict() -> String? {
            guard let before else { return nil }
            let bound = min(before - keepBehind, nextPosition)
            guard bound > firstRetained else { return nil }
            while firstRetained < bound {
                if let identity = retained[retainedHead].identity, positions[identity]?.first == firstRetained {
                    positions[identity] = nil
                    matched.remove(identity)
                    fields[firstRetained] = nil
                }
                retainedHead += 1
                firstRetained += 1
            }
            if retainedHead > 4_096, retainedHead * 2 > retained.count {
                retained.removeFirst(retainedHead)
                retainedHead = 0
            }
            return retainedHead < retained.count ? retained[retainedHead].id : nil
        }

        /// How many entries are held (for the memory bound's test).
        var entriesHeld: Int { retained.count - retainedHead }
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

    /// The value at `path` (object keys) in `payload`. A function of its own: the loop written
    /// inline in ``difference(_:_:type:)`` crashed Swift 6.3.1's optimizer (release build,
    /// "Found outside of lifetime use").
    static func lookup(_ path: [String], in payload: JSONValue) -> JSONValue? {
        var value: JSONValue? = payload
        for key in path { value = value?[key] }
        return value
    }

    /// The first mapped field whose value differs from what was sent (decimals compared by
    /// value: the bridge may re-format them at the instrument's precision), or nil.
    static func difference(_ fields: [String: String], _ payload: JSONValue, type: String) -> String? {
        guard let mapping = GroundTruthTests.mappings[type] else { return nil }
        for (field, path, kind) in mapping {
            let value = Self.lookup(path, in: payload)
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

/// The accounting of a long run as it goes, in bounded memory: each ``checkpoint(cutoff:redis:)``
/// reads the streams' new entries, then the ground-truth log up to `cutoff` (a time whose
/// messages have all had time to arrive), feeds both to one ``Accounting/Ledger`` per stream,
/// and trims from Redis (`XTRIM … MINID`) the entries the ledgers have let go of, so neither
/// the test nor Redis holds the whole run. ``accounting`` is the result so far.
///
/// Unchecked `Sendable`: it is handed from task to task (the soak checkpoints in a child task,
/// then finishes in its parent), never used by two at once.
final class LiveAccounting: @unchecked Sendable {
    private let prefix: String
    private let keys: [String]
    private var ledgers: [String: Accounting.Ledger] = [:]
    /// The id of the last entry read, per `market:stream`.
    private var lastRead: [String: String] = [:]
    private let log: FileHandle
    /// Log bytes read and not yet fed (the lines after the last cutoff).
    private var buffer: [UInt8] = []
    private var head = 0
    private(set) var messagesFed = 0
    private(set) var entriesRead = 0
    private(set) var entriesTrimmed = 0

    init(log path: String, streams: [(market: String, stream: String)], prefix: String, keepBehind: Int = 20_000) throws {
        guard let log = FileHandle(forReadingAtPath: path) else { throw TestError("cannot read the ground-truth log \(path)") }
        self.log = log
        self.prefix = prefix
        keys = streams.map { $0.market + ":" + $0.stream }
        for key in keys { ledgers[key] = Accounting.Ledger(key: key, keepBehind: keepBehind) }
    }

    deinit { try? log.close() }

    /// The result so far (messages still waiting are decided as at the end of the run).
    var accounting: Accounting { Accounting(streams: keys.map { ledgers[$0]!.finished() }) }

    /// Entries the ledgers hold, over all streams.
    var entriesHeld: Int { ledgers.values.reduce(0) { $0 + $1.entriesHeld } }

    /// The send time (µs) through which every line of the log has been fed.
    private(set) var fedThrough: Int64 = 0

    /// Most log bytes held unfed: when the accounting falls behind the run, it reads on from
    /// where it is instead of holding the log in memory.
    static let readAhead = 256 << 20

    /// Feeds the log through `cutoff` and reads the entries its messages may have become.
    ///
    /// With a `window` (µs), one call feeds at most `window` of send time past ``fedThrough``
    /// and reads only the entries whose ids (Redis milliseconds) are at most `settle` (ms)
    /// after the last send time fed, so a checkpoint that runs behind a fast run holds a
    /// window of it, not everything since it fell behind; call it until ``fedThrough``
    /// reaches the cutoff. Without one (synthetic send times), everything up to `cutoff`.
    func checkpoint(cutoff: Int64, redis: RedisConnection, window: Int64? = nil, settle: Int64 = 10_000) async throws {
        let through = window.map { window -> Int64 in
            let next = fedThrough.addingReportingOverflow(window)
            return fedThrough > 0 && !next.overflow ? min(cutoff, next.partialValue) : cutoff
        } ?? cutoff
        let lastId = window == nil ? "+" : String(through / 1_000 + settle)
        // Entries first: every message fed next has had its entry read, if it was written.
        for key in keys {
            while true {
                let batch = try await streamEntries("\(prefix):\(key)", redis: redis, after: lastRead[key], through: lastId, count: 10_000)
                guard let last = batch.last else { break }
                ledgers[key]!.add(batch)
                lastRead[key] = last.id
                entriesRead += batch.count
                if batch.count < 10_000 { break }
            }
        }
        try feedLog(through: through)
        for key in keys {
            guard let oldest = ledgers[key]!.evict() else { continue }
            entriesTrimmed += Int(try await redis.send("XTRIM", "\(prefix):\(key)", "MINID", oldest).integer ?? 0)
        }
    }

    /// Feeds the log's lines sent up to `cutoff` (the log is in send order; a line is fed only
    /// once its newline has been written).
    private func feedLog(through cutoff: Int64) throws {
        var exhausted = false
        while buffer.count - head < Self.readAhead {
            guard let chunk = try log.read(upToCount: 16 << 20), !chunk.isEmpty else { exhausted = true; break }
            buffer.append(contentsOf: chunk)
        }
        let prefixLength = #"{"send_time_us":"#.utf8.count
        var reachedCutoff = false
        while let newline = buffer[head...].firstIndex(of: UInt8(ascii: "\n")) {
            var time: Int64 = 0
            var index = head + prefixLength
            while index < newline, buffer[index] >= UInt8(ascii: "0"), buffer[index] <= UInt8(ascii: "9") {
                time = time * 10 + Int64(buffer[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard time <= cutoff else { reachedCutoff = true; break }
            let line = buffer[head..<newline]
            head = newline + 1
            fedThrough = max(fedThrough, time)
            guard let record = JSONValue.parse(Array(line)), let market = record["market"]?.string, let stream = record["stream"]?.string,
                  let payload = record["payload"], ledgers[market + ":" + stream] != nil else { continue }  // a fault line has no payload
            for row in payload.array ?? [payload] {
                ledgers[market + ":" + stream]!.receive(Accounting.Sent(sendTime: time, payload: row))
                messagesFed += 1
            }
        }
        // Every line through the cutoff is fed when a later one was met or the whole log read
        // (the caller flushed it through the cutoff first).
        if reachedCutoff || exhausted { fedThrough = max(fedThrough, cutoff) }
        if head > 1 << 20, head * 2 > buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
    }
}

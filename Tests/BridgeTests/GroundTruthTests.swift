import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// Every stream type's entries match what the simulator sent (its ground-truth log), field by
/// field: ids and times as integers, prices and quantities as the same exact decimal
/// (re-formatted at the instrument's precision, never changed in value), sides and flags as
/// the contract spells them; and within each stream nothing the exchange sent between the
/// first and the last entry is missing.
@Suite("Entries against the simulator's ground truth", .timeLimit(.minutes(3)))
struct GroundTruthTests {
    enum Kind { case integer, decimal, price, quantity, text, makerSide, orderSide, flag, levels, json }
    typealias Mapping = [(field: String, path: [String], kind: Kind)]

    static let kline: Mapping = [
        ("interval", ["k", "i"], .text), ("open_time_ms", ["k", "t"], .integer), ("close_time_ms", ["k", "T"], .integer),
        ("open", ["k", "o"], .price), ("high", ["k", "h"], .price), ("low", ["k", "l"], .price), ("close", ["k", "c"], .price),
        ("volume", ["k", "v"], .quantity), ("quote_volume", ["k", "q"], .decimal), ("trades", ["k", "n"], .integer),
        ("closed", ["k", "x"], .flag), ("taker_buy_volume", ["k", "V"], .quantity), ("taker_buy_quote_volume", ["k", "Q"], .decimal),
        ("first_trade_id", ["k", "f"], .integer), ("last_trade_id", ["k", "L"], .integer),
    ]
    static let depth: Mapping = [
        ("first_update_id", ["U"], .integer), ("final_update_id", ["u"], .integer), ("prev_final_update_id", ["pu"], .integer),
        ("transaction_time_ms", ["T"], .integer), ("bids", ["b"], .levels), ("asks", ["a"], .levels),
    ]
    /// Entry type → how its fields come from the payload (an independent statement of the
    /// contract's field names, not the bridge's table).
    static let mappings: [String: Mapping] = [
        "agg_trade": [
            ("agg_trade_id", ["a"], .integer), ("price", ["p"], .price), ("qty", ["q"], .quantity), ("first_trade_id", ["f"], .integer),
            ("last_trade_id", ["l"], .integer), ("trade_time_ms", ["T"], .integer), ("side", ["m"], .makerSide),
        ],
        "trade": [
            ("trade_id", ["t"], .integer), ("price", ["p"], .price), ("qty", ["q"], .quantity), ("trade_time_ms", ["T"], .integer),
            ("side", ["m"], .makerSide), ("execution_type", ["X"], .text),
        ],
        "book_ticker": [
            ("update_id", ["u"], .integer), ("bid_price", ["b"], .price), ("bid_qty", ["B"], .quantity), ("ask_price", ["a"], .price),
            ("ask_qty", ["A"], .quantity), ("transaction_time_ms", ["T"], .integer),
        ],
        "depth_update": depth,
        "depth_partial": depth,
        "mark_price": [
            ("mark_price", ["p"], .price), ("index_price", ["i"], .price), ("estimated_settle_price", ["P"], .price),
            ("funding_rate", ["r"], .decimal), ("next_funding_time_ms", ["T"], .integer),
        ],
        "kline": kline,
        "continuous_kline": kline + [("contract_type", ["ct"], .text)],
        "liquidation": [
            ("side", ["o", "S"], .orderSide), ("order_type", ["o", "o"], .text), ("time_in_force", ["o", "f"], .text),
            ("orig_qty", ["o", "q"], .quantity), ("price", ["o", "p"], .price), ("avg_price", ["o", "ap"], .price),
            ("order_status", ["o", "X"], .text), ("last_filled_qty", ["o", "l"], .quantity), ("filled_accumulated_qty", ["o", "z"], .quantity),
            ("trade_time_ms", ["o", "T"], .integer),
        ],
        "ticker": [
            ("price_change", ["p"], .price), ("price_change_percent", ["P"], .decimal), ("weighted_avg_price", ["w"], .price),
            ("last_price", ["c"], .price), ("last_qty", ["Q"], .quantity), ("open", ["o"], .price), ("high", ["h"], .price),
            ("low", ["l"], .price), ("volume", ["v"], .quantity), ("quote_volume", ["q"], .decimal), ("open_time_ms", ["O"], .integer),
            ("close_time_ms", ["C"], .integer), ("first_trade_id", ["F"], .integer), ("last_trade_id", ["L"], .integer), ("trades", ["n"], .integer),
        ],
        "mini_ticker": [
            ("close", ["c"], .price), ("open", ["o"], .price), ("high", ["h"], .price), ("low", ["l"], .price),
            ("volume", ["v"], .quantity), ("quote_volume", ["q"], .decimal),
        ],
        "index_price": [("index_price", ["p"], .decimal)],
        "contract_info": [
            ("pair", ["ps"], .text), ("contract_type", ["ct"], .text), ("delivery_date_ms", ["dt"], .integer), ("onboard_date_ms", ["ot"], .integer),
            ("contract_status", ["cs"], .text), ("transaction_time_ms", ["T"], .integer), ("brackets", ["bks"], .json),
        ],
        "composite_index": [("price", ["p"], .decimal), ("component_type", ["C"], .text), ("components", ["c"], .json)],
        "asset_index": [
            ("index_price", ["i"], .decimal), ("bid_buffer", ["b"], .decimal), ("ask_buffer", ["a"], .decimal), ("bid_rate", ["B"], .decimal),
            ("ask_rate", ["A"], .decimal), ("auto_exchange_bid_buffer", ["q"], .decimal), ("auto_exchange_ask_buffer", ["g"], .decimal),
            ("auto_exchange_bid_rate", ["Q"], .decimal), ("auto_exchange_ask_rate", ["G"], .decimal),
        ],
    ]
    /// Fields an entry may carry besides its mapping.
    static let common: Set<String> = ["type", "market", "symbol", "stream", "event_time_ms", "recv_time_us", "pair", "price_source"]

    @Test func everyStreamTypeMatchesTheGroundTruthFieldByField() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gt-\(UUID().uuidString.prefix(8)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var simulator = testSimulatorConfiguration(groundTruth: path)
        simulator.liquidationsPerSecond = 1
        simulator.contractInfoInterval = .seconds(1)
        var collected: [(market: BinanceMarket, stream: String, fields: [String: String])] = []
        var tickSizes: [String: (price: Int, quantity: Int)] = [:]
        try await withBinanceSimulator(simulator) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                for (market, streams) in [(BinanceMarket.usdm, SchemaTests.usdmStreams), (.coinm, SchemaTests.coinmStreams)] {
                    let reply = try await bridge.command(["op": "subscribe", "market": JSONValue(market.rawValue), "streams": JSONValue(streams)])
                    #expect(reply["ok"] == true, "\(reply.text)")
                }
                try await eventually("every stream delivers", timeout: .seconds(30)) {
                    for stream in SchemaTests.usdmStreams where try await bridge.entries(stream).count < 3 { return false }
                    for stream in SchemaTests.coinmStreams where try await bridge.entries(stream, market: .coinm).count < 3 { return false }
                    return true
                }
                for market in BinanceMarket.allCases {
                    let hash = try await bridge.redis.send("HVALS", "\(bridge.prefix):instruments:\(market.rawValue)").array ?? []
                    for value in hash {
                        guard let instrument = JSONValue.parse(value.bytes ?? []), let symbol = instrument["symbol"]?.string,
                              let tick = instrument["tick_size"]?.string.flatMap(DecimalText.decimals(of:)),
                              let step = instrument["step_size"]?.string.flatMap(DecimalText.decimals(of:)) else { continue }
                        tickSizes[market.rawValue + ":" + symbol] = (tick, step)
                    }
                }
                // Stop the feed, then read everything: entries and the log agree up to here.
                for (market, streams) in [(BinanceMarket.usdm, SchemaTests.usdmStreams), (.coinm, SchemaTests.coinmStreams)] {
                    _ = try await bridge.command(["op": "unsubscribe", "market": JSONValue(market.rawValue), "streams": JSONValue(streams)])
                }
                try await Task.sleep(for: .milliseconds(300))
                for (market, streams) in [(BinanceMarket.usdm, SchemaTests.usdmStreams), (.coinm, SchemaTests.coinmStreams)] {
                    for stream in streams {
                        for entry in try await bridge.entries(stream, market: market) where !["gap", "status"].contains(entry.fields["type"] ?? "") {
                            collected.append((market, stream, entry.fields))
                        }
                    }
                }
            }
            try await simulator.flushGroundTruth()
        }

        // The ground truth, element by element (arrays expanded), per (market, stream).
        var truth: [String: [JSONValue]] = [:]
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            guard let record = JSONValue.parse(Array(line.utf8)), let market = record["market"]?.string, let stream = record["stream"]?.string,
                  let payload = record["payload"] else { continue }
            truth[market + ":" + stream, default: []] += payload.array ?? [payload]
        }

        var typesSeen: Set<String> = []
        var matchedIndices: [String: [Int]] = [:]
        for (market, stream, fields) in collected {
            let type = try #require(fields["type"])
            typesSeen.insert(type)
            let mapping = try #require(Self.mappings[type], "no mapping for \(type)")
            let candidates = truth[market.rawValue + ":" + stream] ?? []
            // The element with the same symbol, event time and identity fields.
            let index = candidates.firstIndex { Self.identity(of: $0, type: type) == Self.identity(of: fields, type: type) && (Self.symbol(of: $0) == fields["symbol"]) }
            guard let index else {
                Issue.record("no ground-truth message for \(stream) \(fields)")
                continue
            }
            matchedIndices[market.rawValue + ":" + stream, default: []].append(index)
            let payload = candidates[index]
            #expect(fields["event_time_ms"] == payload["E"]?.integer.map(String.init))
            let rowMarket = payload["st"]?.integer.map { $0 == 1 ? "usdm" : "coinm" } ?? market.rawValue
            #expect(fields["market"] == rowMarket)
            let precision = tickSizes[rowMarket + ":" + (fields["symbol"] ?? "")]
            for (field, path, kind) in mapping {
                var value: JSONValue? = payload
                for key in path { value = value?[key] }
                Self.check(field, entry: fields[field], truth: value, kind: kind, precision: precision, stream: stream)
            }
            let allowed = Self.common.union(mapping.map(\.field))
            #expect(Set(fields.keys).isSubset(of: allowed), "\(stream): unexpected fields \(Set(fields.keys).subtracting(allowed))")
        }
        #expect(typesSeen == Set(Self.mappings.keys), "missing types \(Set(Self.mappings.keys).subtracting(typesSeen))")
        // Nothing missing inside each stream's window (the all-market streams carry other
        // symbols' rows too, all of which the bridge writes).
        for (key, indices) in matchedIndices {
            guard let first = indices.min(), let last = indices.max() else { continue }
            #expect(Set(indices).count == indices.count, "\(key): an entry matched twice")
            #expect(indices.count == last - first + 1, "\(key): \(last - first + 1 - indices.count) messages missing between the first and last entry")
        }
    }

    static func symbol(of payload: JSONValue) -> String? {
        // `s`, else the nested symbol (`o.s` of liquidations, `k.s` of mark price klines; an
        // index kline's `k.s` is "0"), else the pair (`ps`, or `i` of index prices).
        payload["s"]?.string ?? payload["o"]?["s"]?.string ?? payload["k"]?["s"]?.string.flatMap { $0 == "0" ? nil : $0 }
            ?? payload["ps"]?.string ?? payload["i"]?.string
    }

    /// What tells two messages of one stream apart besides the symbol: ids where Binance has
    /// them, else the event time (one message per symbol per push).
    static func identity(of payload: JSONValue, type: String) -> String {
        switch type {
        case "agg_trade": "\(payload["a"]?.integer ?? -1)"
        case "trade": "\(payload["t"]?.integer ?? -1)"
        case "book_ticker", "depth_update", "depth_partial": "\(payload["u"]?.integer ?? -1)/\(payload["E"]?.integer ?? -1)"
        default: "\(payload["E"]?.integer ?? -1)"
        }
    }

    static func identity(of fields: [String: String], type: String) -> String {
        switch type {
        case "agg_trade": fields["agg_trade_id"] ?? ""
        case "trade": fields["trade_id"] ?? ""
        case "book_ticker": "\(fields["update_id"] ?? "")/\(fields["event_time_ms"] ?? "")"
        case "depth_update", "depth_partial": "\(fields["final_update_id"] ?? "")/\(fields["event_time_ms"] ?? "")"
        default: fields["event_time_ms"] ?? ""
        }
    }

    /// `1.2300` → `1.23`, `5.` → `5`: the value of a decimal, whatever its width.
    static func canonical(_ decimal: String) -> String {
        guard decimal.contains(".") else { return decimal }
        var text = Substring(decimal)
        while text.hasSuffix("0") { text = text.dropLast() }
        if text.hasSuffix(".") { text = text.dropLast() }
        return String(text)
    }

    static func decimals(_ text: String) -> Int {
        text.split(separator: ".", omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
    }

    static func check(_ field: String, entry: String?, truth: JSONValue?, kind: Kind, precision: (price: Int, quantity: Int)?, stream: String) {
        let context: Comment = "\(stream) \(field): entry \(entry ?? "absent"), sent \(truth?.text ?? "absent")"
        switch kind {
        case .integer:
            #expect(entry == truth?.integer.map(String.init), context)
        case .text:
            #expect(entry == truth?.string, context)
        case .makerSide:
            #expect(entry == (truth == .bool(true) ? "sell" : "buy"), context)
        case .orderSide:
            #expect(entry == truth?.string?.lowercased(), context)
        case .flag:
            #expect(entry == (truth == .bool(true) ? "1" : "0"), context)
        case .json:
            #expect(entry.flatMap { JSONValue.parse(Array($0.utf8)) } == truth, context)
        case .decimal, .price, .quantity:
            guard let sent = truth?.string, !sent.isEmpty else {
                // "" (not applicable) is an absent field, never an empty one.
                #expect(entry == nil, context)
                return
            }
            guard let entry else {
                Issue.record("missing: \(context)")
                return
            }
            #expect(canonical(entry) == canonical(sent), context)
            let wanted = kind == .price ? precision?.price : kind == .quantity ? precision?.quantity : nil
            if let wanted {
                #expect(decimals(entry) == max(wanted, decimals(canonical(sent))), "precision \(wanted): \(context)")
            } else {
                #expect(entry == sent, "passed through as sent: \(context)")
            }
        case .levels:
            let entryLevels = entry.flatMap { JSONValue.parse(Array($0.utf8)) }?.array ?? []
            let sentLevels = truth?.array ?? []
            #expect(entryLevels.count == sentLevels.count, context)
            for (mine, theirs) in zip(entryLevels, sentLevels) {
                for position in 0..<2 {
                    let a = mine.array?[position].string ?? "?"
                    let b = theirs.array?[position].string ?? "!"
                    #expect(canonical(a) == canonical(b), context)
                    if let precision {
                        #expect(decimals(a) == max(position == 0 ? precision.price : precision.quantity, decimals(canonical(b))), context)
                    }
                }
            }
        }
    }
}

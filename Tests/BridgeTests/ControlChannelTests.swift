import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// The bridge driven through Redis only, as a user in any language drives it (Redis contract
/// §1–§3), against the in-process simulator and a real `redis-server`.
@Suite("Bridge through Redis", .timeLimit(.minutes(3)))
struct ControlChannelTests {
    @Test func subscribeWritesTheDesiredSetAndEntriesFlowWithMarkersFirst() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let reply = try await bridge.command(["op": "subscribe", "id": 7, "streams": ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker"]])
                #expect(reply["ok"] == true, "\(reply.text)")
                #expect(reply["id"] == 7)
                #expect(reply["op"] == "subscribe")
                #expect(reply["result"]?["added"] == ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker"])
                #expect(reply["result"]?["already"] == [])
                #expect(reply["result"]?["total"] == 3)
                #expect(try await bridge.desired() == ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker"])

                try await eventually("aggTrade and depth entries arrive") {
                    let trades = try await bridge.entries("btcusdt@aggTrade").count
                    let depth = try await bridge.entries("btcusdt@depth@100ms").count
                    return trades >= 3 && depth >= 3
                }
                for stream in ["btcusdt@aggTrade", "btcusdt@depth@100ms"] {
                    let entries = try await bridge.entries(stream)
                    // The first entry after the confirmation is the `subscribed` status marker.
                    #expect(entries.first?.fields["type"] == "status")
                    #expect(entries.first?.fields["status"] == "subscribed")
                    #expect(entries.first?.fields["symbol"] == "BTCUSDT")
                    for entry in entries.dropFirst() {
                        #expect(entry.fields["market"] == "usdm")
                        #expect(entry.fields["symbol"] == "BTCUSDT")
                        #expect(entry.fields["stream"] == stream)
                        #expect(Int64(entry.fields["event_time_ms"] ?? "") != nil, "\(entry.fields)")
                        #expect(Int64(entry.fields["recv_time_us"] ?? "") != nil)
                        for (field, value) in entry.fields {
                            #expect(!value.isEmpty && value != "null" && value != "None", "\(stream) \(field)=\(value)")
                        }
                    }
                }
                let trade = try #require(try await bridge.entries("btcusdt@aggTrade").last?.fields)
                #expect(trade["type"] == "agg_trade")
                #expect(["buy", "sell"].contains(trade["side"] ?? ""))
                #expect(trade["price"].flatMap { DecimalText.decimals(of: $0) } != nil)
                let depth = try #require(try await bridge.entries("btcusdt@depth@100ms").last?.fields)
                #expect(depth["type"] == "depth_update")
                #expect(depth["bids"]?.hasPrefix("[") == true)

                let again = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade", "ethusdt@aggTrade"]])
                #expect(again["result"]?["added"] == ["ethusdt@aggTrade"])
                #expect(again["result"]?["already"] == ["btcusdt@aggTrade"])
                #expect(again["result"]?["total"] == 4)
                #expect(again["id"] == .null)

                try await eventually("list shows every stream confirmed") {
                    let list = try await bridge.command(["op": "list"])
                    let states = list["result"]?["streams"]?.array?.compactMap { $0["state"]?.string } ?? []
                    return states.count == 4 && states.allSatisfy { $0 == "confirmed" }
                }
                let list = try await bridge.command(["op": "list"])
                #expect(list["result"]?["streams"]?.array?.compactMap { $0["stream"]?.string } == ["btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms", "ethusdt@aggTrade"])
                #expect(list["result"]?["streams"]?.array?.allSatisfy { $0["connection"]?.integer != nil } == true)

                let removed = try await bridge.command(["op": "unsubscribe", "streams": ["btcusdt@aggTrade", "solusdt@aggTrade"]])
                #expect(removed["result"]?["removed"] == ["btcusdt@aggTrade"])
                #expect(removed["result"]?["absent"] == ["solusdt@aggTrade"])
                #expect(removed["result"]?["total"] == 3)
                #expect(try await bridge.desired() == ["btcusdt@depth@100ms", "btcusdt@bookTicker", "ethusdt@aggTrade"])
                try await eventually("the unsubscribed marker is the stream's last entry") {
                    try await bridge.entries("btcusdt@aggTrade").last?.fields["status"] == "unsubscribed"
                }
            }
        }
    }

    @Test func everyErrorCodeAndNothingChangesOnARejectedCommand() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            configuration.instruments.strict = true
            try await BridgeHarness.with(configuration) { bridge in
                func code(_ reply: JSONValue) -> String? { reply["error"]?["code"]?.string }
                let first = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade"]])
                #expect(first["ok"] == true)

                // The last stream is invalid: nothing changes, the offender is listed.
                let invalid = try await bridge.command(["op": "subscribe", "id": "a", "streams": ["ethusdt@aggTrade", "ethusdt@depth@250ms"]])
                #expect(invalid["ok"] == false)
                #expect(code(invalid) == "invalid_stream")
                #expect(invalid["error"]?["streams"] == ["ethusdt@depth@250ms"])
                #expect(invalid["id"] == "a")
                #expect(try await bridge.desired() == ["btcusdt@aggTrade"])
                #expect(try await bridge.command(["op": "list"])["result"]?["streams"]?.array?.count == 1)

                let unknown = try await bridge.command(["op": "subscribe", "streams": ["xyzusdt@aggTrade"]])
                #expect(code(unknown) == "unknown_symbol")
                #expect(unknown["error"]?["streams"] == ["xyzusdt@aggTrade"])
                #expect(try await bridge.desired() == ["btcusdt@aggTrade"])

                #expect(code(try await bridge.command(["op": "dance"])) == "unknown_op")
                #expect(code(try await bridge.command(["op": "list", "market": "spot"])) == "unknown_market")
                #expect(code(try await bridge.command(["op": "list", "market": 1])) == "bad_request")
                #expect(code(try await bridge.command(["op": "subscribe"])) == "bad_request")
                #expect(code(try await bridge.command(["op": "subscribe", "streams": "btcusdt@aggTrade"])) == "bad_request")
                #expect(code(try await bridge.command(["op": "subscribe", "streams": []])) == "bad_request")
                #expect(code(try await bridge.command(["op": "subscribe", "streams": [1]])) == "bad_request")
                #expect(code(try await bridge.command(["op": 5])) == "bad_request")
                #expect(code(try await bridge.command(["op": "ping", "id": true])) == "bad_request")
                let tooMany = JSONValue.array((0...1000).map { _ in "btcusdt@aggTrade" })
                #expect(code(try await bridge.command(["op": "subscribe", "streams": tooMany])) == "bad_request")

                // Not JSON / not an object: an event on the events channel (no reply can be read).
                let replyTo = SharedRedis.uniqueKey("reply")
                let huge = #"{"op":"ping","reply_to":"\#(replyTo)","pad":""# + String(repeating: "x", count: 70_000) + #""}"#
                try await withRedisSubscriber(try SharedRedis.configuration(), channels: ["\(bridge.prefix):events"]) { events in
                    var iterator = events.makeAsyncIterator()
                    _ = try await next(&iterator)  // subscribed
                    // Events of the commands above may still be queued (they are published
                    // after the replies): a fence whose reply event comes after all of them.
                    _ = try await bridge.command(["op": "ping", "id": "fence"])
                    while true {
                        guard case .message(let message) = try await next(&iterator), let event = JSONValue.parse(message.payload) else { continue }
                        if event["type"] == "reply", event["reply"]?["id"] == "fence" { break }
                    }
                    for text in ["{not json", "[1,2]", huge] {
                        try await bridge.redis.send("PUBLISH", "\(bridge.prefix):control", text)
                    }
                    var codes: [String] = []
                    while codes.count < 3 {
                        guard case .message(let message) = try await next(&iterator), let event = JSONValue.parse(message.payload) else { continue }
                        if event["type"] == "bad_command", let code = event["code"]?.string { codes.append(code) }
                    }
                    #expect(codes == ["bad_json", "bad_request", "bad_request"])
                }
                // Nothing stopped: the bridge still answers, in order.
                let pong = try await bridge.command(["op": "ping", "id": 99])
                #expect(pong["ok"] == true && pong["result"]?["pong"] == true && pong["result"]?["time_us"]?.integer != nil)
                #expect(pong["id"] == 99)
            }
        }
    }

    @Test func poolExhaustionLeavesTheDesiredSetAndThePoolUnchanged() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                // 20 connections × 200 streams; all kline intervals of the simulator's symbols
                // are far fewer, so use many distinct (valid, unknown-symbol) names.
                let names = (0..<1000).map { "sym\($0)usdt@aggTrade" }
                for chunk in stride(from: 0, to: 4000, by: 1000) {
                    let streams = (chunk..<(chunk + 1000)).map { "sym\($0)usdt@markPrice" }
                    let reply = try await bridge.command(["op": "subscribe", "streams": JSONValue(streams)])
                    #expect(reply["ok"] == true, "\(reply.text.prefix(300))")
                }
                #expect(try await bridge.desired().count == 4000)
                let full = try await bridge.command(["op": "subscribe", "streams": JSONValue(names)])
                #expect(full["error"]?["code"] == "pool_exhausted", "\(full.text.prefix(300))")
                #expect(try await bridge.desired().count == 4000)
                #expect(try await bridge.command(["op": "list"])["result"]?["streams"]?.array?.count == 4000)
            }
        }
    }

    @Test func anExchangeInfoThatCannotBeFetchedIsAnInternalErrorAndChangesNothing() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            // The USD-M port serves no /dapi paths: exchangeInfo answers 404. (A refused port
            // would do too, slowly: AsyncHTTPClient retries the connection until the 15 s
            // request deadline.)
            configuration.coinm.restURL = "http://127.0.0.1:\(simulator.ports.usdm)"
            configuration.instruments.syncOnStart = false
            try await BridgeHarness.with(configuration) { bridge in
                try await bridge.redis.send("HSET", "\(bridge.prefix):instruments:coinm", "KEPT", #"{"symbol":"KEPT"}"#)
                let reply = try await bridge.command(["op": "instruments.sync", "market": "coinm", "id": 3])
                #expect(reply["ok"] == false && reply["id"] == 3, "\(reply.text)")
                #expect(reply["error"]?["code"] == "internal", "\(reply.text)")
                #expect(reply["error"]?["message"]?.string?.contains("exchangeInfo") == true, "\(reply.text)")
                #expect(try await bridge.redis.send("HKEYS", "\(bridge.prefix):instruments:coinm").array?.compactMap(\.string) == ["KEPT"])
                // The other market and the control channel carry on.
                let usdm = try await bridge.command(["op": "instruments.sync", "market": "usdm"])
                #expect(usdm["ok"] == true, "\(usdm.text)")
                #expect(try await bridge.command(["op": "status"])["ok"] == true)
            }
        }
    }

    @Test func reconcileStatusAndInstrumentOps() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                // instruments.sync_on_start filled the hash from the simulator's exchangeInfo.
                try await eventually("instruments synced at start") {
                    let usdm = try await bridge.redis.send("HLEN", "\(bridge.prefix):instruments:usdm").integer ?? 0
                    let coinm = try await bridge.redis.send("HLEN", "\(bridge.prefix):instruments:coinm").integer ?? 0
                    return usdm >= 3 && coinm >= 2
                }
                let stored = try #require(try await bridge.redis.send("HGET", "\(bridge.prefix):instruments:usdm", "BTCUSDT").bytes)
                let instrument = try #require(JSONValue.parse(stored))
                for key in ["symbol", "pair", "contract_type", "status", "base_asset", "quote_asset", "margin_asset", "price_precision", "quantity_precision", "tick_size", "step_size"] {
                    #expect(instrument[key] != nil, "missing \(key)")
                }
                let coinm = try #require(try await bridge.redis.send("HGET", "\(bridge.prefix):instruments:coinm", "BTCUSD_PERP").bytes)
                #expect(JSONValue.parse(coinm)?["contract_size"]?.integer != nil)

                let sync = try await bridge.command(["op": "instruments.sync", "market": "coinm"])
                #expect(sync["ok"] == true && (sync["result"]?["instruments"]?.integer ?? 0) >= 2, "\(sync.text)")

                // A malformed entry is skipped (and reported), the rest load.
                let count = try #require(try await bridge.redis.send("HLEN", "\(bridge.prefix):instruments:usdm").integer)
                try await bridge.redis.send("HSET", "\(bridge.prefix):instruments:usdm", "BROKEN", "{not json", "ALSOBAD", #"{"symbol":"ALSOBAD"}"#)
                let reload = try await bridge.command(["op": "instruments.reload"])
                #expect(reload["result"]?["instruments"]?.integer == count)

                // An operator edits the desired set; reconcile converges to it.
                _ = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade", "ethusdt@aggTrade"]])
                try await bridge.redis.send("SREM", "\(bridge.prefix):subscriptions:usdm", "ethusdt@aggTrade")
                try await bridge.redis.send("SADD", "\(bridge.prefix):subscriptions:usdm", "solusdt@bookTicker", "not a stream")
                let reconcile = try await bridge.command(["op": "reconcile"])
                #expect(reconcile["result"]?["added"] == ["solusdt@bookTicker"], "\(reconcile.text)")
                #expect(reconcile["result"]?["removed"] == ["ethusdt@aggTrade"])
                let listed = try await bridge.command(["op": "list"])["result"]?["streams"]?.array?.compactMap { $0["stream"]?.string }
                #expect(listed == ["btcusdt@aggTrade", "solusdt@bookTicker"])

                try await eventually("status shows open connections and counters") {
                    let status = try await bridge.command(["op": "status"])["result"]
                    return (status?["messages_in"]?.integer ?? 0) > 0 && (status?["connections"]?.array?.contains { $0["state"] == "open" } ?? false)
                }
                let status = try #require(try await bridge.command(["op": "status"])["result"])
                #expect(status["version"]?.string == BridgeVersion.current)
                #expect(status["streams"] == 2)
                #expect(status["uptime_s"]?.integer != nil)
                try await eventually("the status hash is refreshed") {
                    let hash = try await bridge.redis.send("HGETALL", "\(bridge.prefix):status").array?.compactMap(\.string) ?? []
                    let fields = Dictionary(uniqueKeysWithValues: stride(from: 0, to: hash.count - 1, by: 2).map { (hash[$0], hash[$0 + 1]) })
                    return ["version", "started_at_us", "connections", "streams", "messages_in", "entries_out", "gaps", "last_error"].allSatisfy { fields[$0] != nil }
                        && Int(fields["entries_out"] ?? "") ?? 0 > 0
                }
            }
        }
    }

    @Test func aRestartRestoresTheSubscriptionsBehindRestartMarkers() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                _ = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade"]])
                _ = try await bridge.command(["op": "subscribe", "market": "coinm", "streams": ["btcusd_perp@markPrice@1s"]])
                try await eventually("data in both markets") {
                    let trades = try await bridge.entries("btcusdt@aggTrade").count
                    let marks = try await bridge.entries("btcusd_perp@markPrice@1s", market: .coinm).count
                    return trades >= 2 && marks >= 2
                }
            }
            let stoppedAt = WallClock.microseconds()
            // A new process with no command: the same subscriptions come back.
            try await BridgeHarness.with(configuration) { bridge in
                try await eventually("a restart marker, then data again") {
                    let entries = try await bridge.entries("btcusd_perp@markPrice@1s", market: .coinm)
                    guard let marker = entries.lastIndex(where: { $0.fields["reason"] == "restart" }) else { return false }
                    return entries[(marker + 1)...].contains { $0.fields["type"] == "mark_price" }
                }
                let entries = try await bridge.entries("btcusd_perp@markPrice@1s", market: .coinm)
                let marker = try #require(entries.last { $0.fields["reason"] == "restart" }?.fields)
                #expect(marker["type"] == "gap")
                let start = try #require(Int64(marker["gap_start_us"] ?? ""))
                let end = try #require(Int64(marker["gap_end_us"] ?? ""))
                #expect(start <= stoppedAt && end >= stoppedAt, "\(start)…\(end) around \(stoppedAt)")
                #expect(try await bridge.desired(.coinm) == ["btcusd_perp@markPrice@1s"])
                let list = try await bridge.command(["op": "list"])["result"]?["streams"]?.array?.compactMap { $0["stream"]?.string }
                #expect(list == ["btcusdt@aggTrade"])
            }
        }
    }

    @Test func aSilentStreamGetsStaleThenAGapAndResumedMarkers() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let stream = "btcusdt@depth@100ms"
                _ = try await bridge.command(["op": "subscribe", "streams": JSONValue([stream, "btcusdt@aggTrade"])])
                try await eventually("depth flows") { try await bridge.entries(stream).count >= 5 }
                // Silent for 5 s: stale after 3 s (10 cadences, at least 3 s), data again after.
                _ = try await simulator.inject(.stallStream(market: .usdm, stream: stream, connection: nil, seconds: 5))
                try await eventually("stale, then a stale gap, resumed and data", timeout: .seconds(20)) {
                    let entries = try await bridge.entries(stream)
                    guard let stale = entries.firstIndex(where: { $0.fields["status"] == "stale" }),
                          let gap = entries.firstIndex(where: { $0.fields["reason"] == "stale" }),
                          let resumed = entries.firstIndex(where: { $0.fields["status"] == "resumed" })
                    else { return false }
                    return stale < gap && gap < resumed && entries[(resumed + 1)...].contains { $0.fields["type"] == "depth_update" }
                }
                let entries = try await bridge.entries(stream)
                let stale = try #require(entries.first { $0.fields["status"] == "stale" }?.fields)
                #expect(Int64(stale["silent_for_us"] ?? "") ?? 0 >= 3_000_000)
                let gap = try #require(entries.first { $0.fields["reason"] == "stale" }?.fields)
                let start = try #require(Int64(gap["gap_start_us"] ?? ""))
                let end = try #require(Int64(gap["gap_end_us"] ?? ""))
                // The window is the silence: about the 5 s stall.
                #expect(end - start >= 4_000_000 && end - start <= 20_000_000, "\(end - start) µs")
                // The neighbour stream on the same market kept flowing without markers.
                #expect(!(try await bridge.entries("btcusdt@aggTrade")).contains { $0.fields["type"] == "gap" })
            }
        }
    }

    @Test func aDesiredSetRedisRefusesGivesRedisErrorAndChangesNothing() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                // The desired set's key holds a string: SADD fails with WRONGTYPE.
                try await bridge.redis.send("SET", "\(bridge.prefix):subscriptions:usdm", "not a set")
                let reply = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade"]])
                #expect(reply["error"]?["code"] == "redis_error", "\(reply.text)")
                // The pool was put back as it was: the reply and the state agree.
                #expect(try await bridge.command(["op": "list"])["result"]?["streams"] == [])
                let reconcile = try await bridge.command(["op": "reconcile"])
                #expect(reconcile["error"]?["code"] == "redis_error", "\(reconcile.text)")
                try await bridge.redis.send("DEL", "\(bridge.prefix):subscriptions:usdm")
                #expect(try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade"]])["ok"] == true)
            }
        }
    }

    @Test func aDesiredSetLargerThanThePoolRestoresWhatFits() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            // An operator's edit past the capacity (20 × 200): written before the bridge starts.
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                let names = (0..<4_100).map { "sym\($0)usdt@markPrice" }
                for chunk in stride(from: 0, to: names.count, by: 500) {
                    try await redis.send(["SADD", "\(configuration.redis.prefix):subscriptions:usdm"] + names[chunk..<min(chunk + 500, names.count)])
                }
            }
            try await BridgeHarness.with(configuration) { bridge in
                let listed = try await bridge.command(["op": "list"])["result"]?["streams"]?.array?.count
                #expect(listed == 4_000)
                // The set is left as the operator wrote it.
                #expect(try await bridge.desired().count == 4_100)
            }
        }
    }
}

import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// The fault matrix: each fault against the real `binance-bridge` process, the simulator and
/// a real `redis-server`, ending with the ``Accounting`` check — every message the exchange
/// sent is an entry or inside a `gap` marker's window, none twice, none altered, and no
/// stream's own sequence breaks without a marker.
@Suite("Fault matrix: nothing lost silently", .timeLimit(.minutes(3)), .serialized)
struct FaultMatrixTests {
    /// What every fault runs against: trades (ids), diff depth (the `pu` chain), book ticker,
    /// mark price (1 s cadence), and a COIN-M stream on the other market's pool.
    static let streams: [(market: String, stream: String)] = [
        ("usdm", "btcusdt@aggTrade"), ("usdm", "ethusdt@aggTrade"), ("usdm", "btcusdt@depth@100ms"), ("usdm", "ethusdt@bookTicker"),
        ("usdm", "btcusdt@markPrice@1s"), ("coinm", "btcusd_perp@aggTrade"),
    ]

    /// The bridge process and what a fault needs to reach.
    struct Run {
        let simulator: BinanceSimulator
        let redis: RedisConnection
        let prefix: String
        var bridge: BridgeProcess
        let arguments: [String]

        func entries(_ market: String, _ stream: String) async throws -> [Accounting.Entry] {
            try await streamEntries("\(prefix):\(market):\(stream)", redis: redis)
        }

        /// Waits until every stream has `count` more data entries than it has now.
        func dataFlowsAgain(_ count: Int = 3, streams: [(market: String, stream: String)] = FaultMatrixTests.streams, timeout: Duration = .seconds(30)) async throws {
            var before: [String: Int] = [:]
            for (market, stream) in streams { before[market + stream] = try await dataCount(market, stream) }
            try await eventually("data flows on every stream again", timeout: timeout) {
                for (market, stream) in streams where try await dataCount(market, stream) < before[market + stream]! + count { return false }
                return true
            }
        }

        func dataCount(_ market: String, _ stream: String) async throws -> Int {
            try await entries(market, stream).filter { !["gap", "status"].contains($0.fields["type"] ?? "") }.count
        }

        /// Waits until every stream has a `gap` marker (with `reason`, if given).
        func markersOnEveryStream(_ reason: String? = nil, timeout: Duration = .seconds(20)) async throws {
            try await eventually("\(reason ?? "gap") markers on every stream", timeout: timeout) {
                for (market, stream) in FaultMatrixTests.streams {
                    let reasons = try await gapReasons(market, stream)
                    if reason.map({ !reasons.contains($0) }) ?? reasons.isEmpty { return false }
                }
                return true
            }
        }

        /// The sum of the `/metrics` samples whose line starts with `prefix`.
        func metric(_ prefix: String) async throws -> Double {
            let port = try #require(arguments.firstIndex(of: "--http-port").flatMap { Int(arguments[$0 + 1]) })
            return try await httpGet(port: port, "/metrics").body.split(separator: "\n").filter { $0.hasPrefix(prefix) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }

        func gapReasons(_ market: String, _ stream: String) async throws -> [String] {
            try await entries(market, stream).filter { $0.fields["type"] == "gap" }.compactMap { $0.fields["reason"] }
        }

        /// A `binance-bridge run` with the same settings (a restart).
        func startBridge() async throws -> BridgeProcess {
            let bridge = try BridgeProcess(arguments: arguments)
            try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
            return bridge
        }
    }

    /// Subscribes `streams` with one command per market; each must be answered ok.
    static func subscribe(_ streams: [(market: String, stream: String)], prefix: String, redis: RedisConnection) async throws {
        for market in ["usdm", "coinm"] {
            let names = streams.filter { $0.market == market }.map { JSONValue($0.stream) }
            let reply = try await sendCommand(["op": "subscribe", "market": JSONValue(market), "streams": .array(names)], prefix: prefix, redis: redis)
            #expect(reply["ok"] == true, "\(reply.text)")
        }
    }

    /// Runs `fault` against a bridge process that has data flowing on ``streams``, waits for
    /// data on every stream after it, then checks the accounting over everything sent up to
    /// that point and stops the bridge with SIGTERM (exit 0).
    static func withFault(
        simulator configure: (inout SimulatorConfiguration) -> Void = { _ in },
        bridge extra: [String] = [],
        redis server: RedisServerProcess? = nil,
        beforeStart: (BinanceSimulator) async throws -> Void = { _ in },
        name: String = #function,
        _ fault: (inout Run) async throws -> Void
    ) async throws -> Accounting {
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString.prefix(8)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: truth) }
        var configuration = testSimulatorConfiguration(groundTruth: truth)
        configure(&configuration)
        return try await withBinanceSimulator(configuration) { simulator in
            let prefix = uniquePrefix()
            let redisConfiguration = try server?.configuration() ?? SharedRedis.configuration()
            return try await withRedisConnection(redisConfiguration) { redis in
                var arguments = try BridgeProcessDataTests().arguments(simulator, prefix: prefix) + extra
                if let server { arguments[arguments.firstIndex(of: "--redis-url")! + 1] = "redis://127.0.0.1:\(server.port)/0" }
                try await beforeStart(simulator)
                let bridge = try BridgeProcess(arguments: arguments)
                try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
                var run = Run(simulator: simulator, redis: redis, prefix: prefix, bridge: bridge, arguments: arguments)
                try await Self.subscribe(Self.streams, prefix: prefix, redis: redis)
                try await run.dataFlowsAgain()
                try await fault(&run)
                try await run.dataFlowsAgain()
                // Everything sent up to now has had time to arrive once it all has.
                let until = WallClock.microseconds()
                var accounting = Accounting(streams: [])
                do {
                    try await eventually("every message sent is accounted for", timeout: .seconds(10)) {
                        try await simulator.flushGroundTruth()
                        accounting = try await Accounting.check(log: try Accounting.readLog(truth), streams: Self.streams, prefix: prefix, redis: redis, window: 0...until)
                        return accounting.holds
                    }
                } catch {
                    Issue.record("\(accounting.streams)")
                    throw error
                }
                #expect(accounting.holds, "\(accounting.streams)")
                #expect(accounting.delivered > 50, "\(accounting.streams)")
                // The counts for docs/reliability.md.
                print("fault-matrix \(name): delivered \(accounting.delivered), in gaps \(accounting.inGap), unaccounted \(accounting.unaccounted), "
                    + "duplicates \(accounting.duplicates), altered \(accounting.altered), sequence breaks \(accounting.sequenceBreaks), gap markers \(accounting.gapMarkers)")
                run.bridge.signal(SIGTERM)
                try await eventually("the bridge exits", timeout: .seconds(10)) { !run.bridge.processIsRunning }
                #expect(run.bridge.exitStatus == 0, "\(run.bridge.standardError.suffix(2000))")
                return accounting
            }
        }
    }

    @Test func theExchangeDropsEveryConnection() async throws {
        let accounting = try await Self.withFault { run in
            _ = try await run.simulator.inject(.drop(.all))
            try await run.markersOnEveryStream("reconnect")
            // And in the metrics: three sockets reconnected, a marker per stream.
            #expect(try await run.metric("binance_bridge_reconnects_total{") >= 3)
            #expect(try await run.metric(#"binance_bridge_gaps_total{reason="reconnect"}"#) >= Double(Self.streams.count))
        }
        #expect(accounting.streams.allSatisfy { $0.gapReasons["reconnect", default: 0] >= 1 }, "\(accounting.streams)")
    }

    @Test func oneConnectionStallsSilently() async throws {
        // No data and no pings on every socket, TCP open: the idle timeout (2 s) ends them.
        let accounting = try await Self.withFault(bridge: ["--pool-ping-interval-s", "1", "--pool-idle-timeout-s", "2"]) { run in
            _ = try await run.simulator.inject(.stallConnection(.all, seconds: nil))
            try await run.markersOnEveryStream()
            _ = try await run.simulator.inject(.clear)
        }
        #expect(accounting.gapMarkers >= Self.streams.count, "\(accounting.streams)")
    }

    @Test func theServerStopsAnsweringPings() async throws {
        let accounting = try await Self.withFault(bridge: ["--pool-ping-interval-s", "1", "--pool-idle-timeout-s", "30"]) { run in
            _ = try await run.simulator.inject(.ignorePings(.all, seconds: nil))
            try await run.markersOnEveryStream()
            _ = try await run.simulator.inject(.clear)
        }
        #expect(accounting.gapMarkers >= Self.streams.count, "\(accounting.streams)")
    }

    @Test func oneStreamStallsAndIsMarkedStale() async throws {
        _ = try await Self.withFault { run in
            _ = try await run.simulator.inject(.stallStream(market: .usdm, stream: "btcusdt@markPrice@1s", connection: nil, seconds: nil))
            try await eventually("a stale marker", timeout: .seconds(20)) {
                try await run.entries("usdm", "btcusdt@markPrice@1s").contains { $0.fields["status"] == "stale" }
            }
            _ = try await run.simulator.inject(.clear)
            try await eventually("resumed", timeout: .seconds(20)) {
                try await run.entries("usdm", "btcusdt@markPrice@1s").contains { $0.fields["status"] == "resumed" }
            }
            // The other streams never noticed.
            for (market, stream) in Self.streams where stream != "btcusdt@markPrice@1s" {
                #expect(try await run.entries(market, stream).allSatisfy { !["stale", "resumed"].contains($0.fields["status"] ?? "") && $0.fields["type"] != "gap" }, "\(stream)")
            }
        }
    }

    @Test func connectionLifetimeExpiryRotatesWithZeroGap() async throws {
        // The exchange closes connections after 12 s; the bridge opens a replacement 8 s before.
        let accounting = try await Self.withFault(
            simulator: { $0.lifetime = .seconds(12) },
            bridge: ["--pool-connection-lifetime-s", "12", "--pool-rotation-margin-s", "8", "--pool-rotation-overlap-s", "6"]
        ) { run in
            try await eventually("rotated", timeout: .seconds(30)) {
                let status = try await sendCommand(["op": "status"], prefix: run.prefix, redis: run.redis)
                return (status["result"]?["rotations"]?.integer ?? 0) >= 3  // usdm /market and /public, coinm
            }
            #expect(try await run.metric("binance_bridge_rotations_total{") >= 3)
        }
        #expect(accounting.gapMarkers == 0 && accounting.inGap == 0, "\(accounting.streams)")
    }

    @Test func malformedTruncatedAndOversizedFrames() async throws {
        let accounting = try await Self.withFault { run in
            for kind in [SimBadFrameKind.malformed, .truncated, .oversized] {
                _ = try await run.simulator.inject(.badFrame(.all, kind, bytes: 4 << 20))
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(run.bridge.processIsRunning)
            // Counted: the malformed and the truncated frame on each of the three sockets
            // (an oversized one may instead end its socket, which is then marked).
            let port = try #require(run.arguments.firstIndex(of: "--http-port").flatMap { Int(run.arguments[$0 + 1]) })
            try await eventually("bad frames counted") {
                let metrics = try await httpGet(port: port, "/metrics").body
                let counted = metrics.split(separator: "\n").filter { $0.hasPrefix("binance_bridge_bad_frames_total{") }
                    .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
                return counted >= 6
            }
        }
        // Whatever the bad frames cost (an oversized one may end its socket), it is marked.
        #expect(accounting.holds)
    }

    @Test func redisIsRestartedMidStream() async throws {
        // Its own server, with the append-only file fsynced on every write: what Redis
        // acknowledged survives a crash (SIGKILL) and the restart; the bridge buffers what
        // arrives while Redis is down and writes it after. (Not SIGTERM: the server inherits
        // the test process's blocked signal mask, where SIGTERM stays pending.)
        let server = try RedisServerProcess(arguments: ["--appendonly", "yes", "--appendfsync", "always"])
        try server.start()
        defer { server.stop() }
        let accounting = try await Self.withFault(redis: server) { run in
            server.stop()
            try await Task.sleep(for: .seconds(2))
            try server.start()
        }
        #expect(accounting.gapMarkers == 0, "the buffer held everything: \(accounting.streams)")
    }

    /// Redis stops answering for 30 s (SIGSTOP; its data survives, as after a long pause or a
    /// failover) with a 64 KiB publisher buffer (the least allowed): the bridge drops the oldest entries behind
    /// `overflow` markers, and each stream's markers declare exactly the messages it lost.
    @Test func redisUnavailableForThirtySecondsOverflowsExactly() async throws {
        let server = try RedisServerProcess()
        try server.start()
        defer { server.stop() }
        // The batch in flight when Redis froze runs when it wakes, after the bridge has timed
        // it out: the retry sends only what Redis does not have, so nothing is written twice.
        let accounting = try await Self.withFault(
            bridge: ["--publisher-buffer-bytes", "65536", "--redis-command-timeout-ms", "500", "--redis-connect-timeout-ms", "500"], redis: server
        ) { run in
            server.send(signal: SIGSTOP)
            try await Task.sleep(for: .seconds(30))
            server.send(signal: SIGCONT)
            try await run.dataFlowsAgain()
            print("fault-matrix redisUnavailableForThirtySecondsOverflowsExactly(): retry skipped \(try await run.metric("binance_bridge_publisher_retry_skipped_total")) entries")
        }
        #expect(accounting.streams.contains { $0.overflowDropped > 0 }, "the buffer overflowed: \(accounting.streams)")
        for stream in accounting.streams {
            #expect(stream.inGap == stream.overflowDropped, "\(stream)")
        }
        #expect(accounting.streams.allSatisfy { Set($0.gapReasons.keys).isSubset(of: ["overflow"]) }, "\(accounting.streams)")
    }

    /// Redis answers writes with `OOM` (out of memory, no eviction) or `READONLY` (demoted to
    /// a replica — of a master that does not exist, so it keeps its data) for 2 s: the bridge
    /// retries, holding what arrives meanwhile.
    @Test(arguments: ["OOM", "READONLY"])
    func redisRefusesWrites(code: String) async throws {
        let server = try RedisServerProcess()
        try server.start()
        defer { server.stop() }
        let accounting = try await Self.withFault(redis: server, name: "redisRefusesWrites(\(code))") { run in
            let (refuse, restore): ([String], [String]) = code == "OOM"
                ? (["CONFIG", "SET", "maxmemory", "1"], ["CONFIG", "SET", "maxmemory", "0"])
                : (["REPLICAOF", "127.0.0.1", String(RedisServerProcess.freePort())], ["REPLICAOF", "NO", "ONE"])
            _ = try await run.redis.send(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
            _ = try await run.redis.send(refuse)
            do {
                _ = try await run.redis.send("XADD", "\(run.prefix):probe", "*", "k", "v")
                Issue.record("Redis still accepts writes")
            } catch let error as RedisClientError {
                #expect(error.serverErrorCode == code, "\(error)")
            }
            try await Task.sleep(for: .seconds(2))
            _ = try await run.redis.send(restore)
            try await eventually("the refused writes counted") { try await run.metric("binance_bridge_redis_errors_total{") >= 1 }
        }
        #expect(accounting.gapMarkers == 0, "the buffer held everything: \(accounting.streams)")
    }

    /// Every connection drops and the exchange refuses the resubscriptions with an unexpected
    /// error (code -1, twice per market): each refusal is an `error` event and a count, the
    /// request is sent again after the ack timeout, the streams come back, and the reconnect
    /// markers bound the loss.
    @Test func unexpectedErrorRepliesToSubscribe() async throws {
        let accounting = try await Self.withFault { run in
            for market in BinanceMarket.allCases { _ = try await run.simulator.inject(.rejectSubscriptions(market: market, count: 2, code: -1)) }
            _ = try await run.simulator.inject(.drop(.all))
            try await run.markersOnEveryStream("reconnect")
            try await run.dataFlowsAgain()
            #expect(try await run.metric("binance_bridge_subscribe_refusals_total{") == 4, "two per market")
            #expect(run.bridge.standardError.contains("subscribe refused; retrying"), "\(run.bridge.standardError.suffix(2000))")
        }
        #expect(accounting.streams.allSatisfy { $0.gapReasons["reconnect", default: 0] >= 1 }, "\(accounting.streams)")
    }

    /// The exchange's message-rate disconnect: with the limit lowered to 1 a second, three
    /// subscribe commands in a row make the bridge send three requests (paced 200 ms apart)
    /// on one socket within a second, and
    /// Binance's rule closes the socket (1008 "Too many requests"); the bridge reconnects
    /// once the limit is back, with markers, and loses nothing unmarked.
    @Test func theMessageRateDisconnect() async throws {
        let accounting = try await Self.withFault { run in
            _ = try await run.simulator.inject(.messageLimit(perSecond: 1, seconds: 4))
            // All on the /market route, so one socket gets every request.
            for stream in ["solusdt@aggTrade", "solusdt@markPrice@1s", "solusdt@kline_1m"] {
                let reply = try await sendCommand(["op": "subscribe", "streams": [JSONValue(stream)]], prefix: run.prefix, redis: run.redis)
                #expect(reply["ok"] == true, "\(reply.text)")
            }
            try await eventually("a connection closed for too many requests", timeout: .seconds(20)) {
                try await run.metric("binance_bridge_reconnects_total{") >= 1
            }
        }
        // The /market socket (both aggTrades, the mark price) was closed and came back with
        // markers; the /public one (depth, book ticker) sent one message a second at most
        // and was left alone.
        let marked = accounting.streams.filter { $0.gapReasons["reconnect", default: 0] >= 1 }.map(\.key)
        for stream in ["btcusdt@aggTrade", "ethusdt@aggTrade", "btcusdt@markPrice@1s"] {
            #expect(marked.contains { $0.hasSuffix(":" + stream) }, "\(stream): \(accounting.streams)")
        }
    }

    @Test func theExchangeRefusesConnectionsAfterADrop() async throws {
        let accounting = try await Self.withFault { run in
            _ = try await run.simulator.inject(.refuseConnections(seconds: 3))
            _ = try await run.simulator.inject(.drop(.all))
        }
        #expect(accounting.streams.allSatisfy { $0.gapReasons["reconnect", default: 0] >= 1 }, "\(accounting.streams)")
    }

    /// 10,000 commands in about a second — 9,000 pings, 500 unknown ops, 500 that are not
    /// JSON — while data flows: every command with a `reply_to` is answered, in the order
    /// published; the data keeps flowing and is all accounted for.
    @Test func aControlChannelFloodWhileDataFlows() async throws {
        _ = try await Self.withFault { run in
            let replies = "\(run.prefix):flood-replies"
            let before = try await run.dataCount("usdm", "btcusdt@aggTrade")
            let started = ContinuousClock.now
            var expected: [String] = []
            for second in 0..<10 {
                var batch = RedisCommandBatch(reservingCapacity: 1_000 * 96)
                for index in 0..<1_000 {
                    let id = second * 1_000 + index
                    switch index % 20 {
                    case 7: batch.append(["PUBLISH", "\(run.prefix):control", #"{"op":"ping","id":\#(id),"reply_to""#])  // not JSON
                    case 13:
                        batch.append(["PUBLISH", "\(run.prefix):control", #"{"op":"frobnicate","id":\#(id),"reply_to":"\#(replies)"}"#])
                        expected.append("\(id):false")
                    default:
                        batch.append(["PUBLISH", "\(run.prefix):control", #"{"op":"ping","id":\#(id),"reply_to":"\#(replies)"}"#])
                        expected.append("\(id):true")
                    }
                }
                _ = try await run.redis.pipeline(batch)
                try await Task.sleep(until: started + .milliseconds(100 * (second + 1)))
            }
            #expect(ContinuousClock.now - started < .seconds(3), "published in \(ContinuousClock.now - started)")
            try await eventually("every reply", timeout: .seconds(60)) {
                (try await run.redis.send("LLEN", replies).integer ?? 0) >= expected.count
            }
            // LPUSH puts the newest first: reversed, the replies in the order they were sent.
            let answered = (try await run.redis.send("LRANGE", replies, "0", "-1").array ?? []).reversed().compactMap { reply -> String? in
                guard let value = JSONValue.parse(reply.bytes ?? []), let id = value["id"]?.integer, let ok = value["ok"] else { return nil }
                return "\(id):\(ok == true)"
            }
            #expect(answered == expected, "\(answered.count) replies of \(expected.count); first difference at \(zip(answered, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
            // Counted by op and result, with ops no bridge knows under one label.
            #expect(try await run.metric(#"binance_bridge_control_commands_total{op="ping",result="ok"}"#) == 9_000)
            #expect(try await run.metric(#"binance_bridge_control_commands_total{op="unknown",result="unknown_op"}"#) == 500)
            #expect(try await run.metric(#"binance_bridge_control_commands_total{op="none",result="bad_json"}"#) == 500)
            #expect(try await run.metric(#"binance_bridge_control_commands_total{op="frobnicate""#) == 0)
            // Data flowed meanwhile.
            #expect(try await run.dataCount("usdm", "btcusdt@aggTrade") > before + 10)
            _ = try await run.redis.send("DEL", replies)
        }
    }

    /// Binance answers the start-up exchangeInfo requests with `429` / `418`: data flows
    /// anyway (decimals as sent), and the sync is retried after `Retry-After` until it holds.
    @Test(arguments: [429, 418])
    func restLimitsDuringTheInstrumentSync(status: Int) async throws {
        _ = try await Self.withFault(beforeStart: { simulator in
            _ = try await simulator.inject(.restLimit(status: status, count: 3, retryAfter: 1))
        }, name: "restLimitsDuringTheInstrumentSync(\(status))") { run in
            let bridge = run.bridge
            #expect(bridge.standardError.contains("instrument sync failed"), "\(bridge.standardError.suffix(2000))")
            try await eventually("both markets synced after the pause", timeout: .seconds(20)) {
                for market in ["usdm", "coinm"] where (try await run.redis.send("HLEN", "\(run.prefix):instruments:\(market)").integer ?? 0) == 0 { return false }
                return true
            }
            #expect(bridge.standardError.contains("HTTP \(status)"))
        }
    }

    @Test func sigtermThenRestartLosesNothingUnmarked() async throws {
        let accounting = try await Self.withFault { run in
            run.bridge.signal(SIGTERM)
            try await eventually("the bridge exits", timeout: .seconds(10)) { !run.bridge.processIsRunning }
            #expect(run.bridge.exitStatus == 0)
            run.bridge = try await run.startBridge()
            try await run.markersOnEveryStream("restart")
        }
        #expect(accounting.streams.allSatisfy { $0.gapReasons["restart", default: 0] == 1 }, "\(accounting.streams)")
    }

    @Test func sigkillThenRestartLosesNothingUnmarked() async throws {
        let accounting = try await Self.withFault { run in
            run.bridge.signal(SIGKILL)
            try await eventually("the bridge is gone", timeout: .seconds(10)) { !run.bridge.processIsRunning }
            run.bridge = try await run.startBridge()
            try await run.markersOnEveryStream("restart")
        }
        #expect(accounting.streams.allSatisfy { $0.gapReasons["restart", default: 0] == 1 }, "\(accounting.streams)")
    }
}

/// The accounting check itself, on hand-made logs and streams: each kind of loss is counted
/// where it belongs.
@Suite("Accounting check")
struct AccountingTests {
    static func trade(_ id: Int64, price: String = "100.5") -> Accounting.Sent {
        Accounting.Sent(sendTime: 1_000 + id, payload: JSONValue.parse(Array(#"{"e":"aggTrade","E":\#(id),"s":"BTCUSDT","a":\#(id),"p":"\#(price)","q":"1.000","f":\#(id),"l":\#(id),"T":\#(id),"m":false}"#.utf8))!)
    }

    static func entry(_ id: Int64, price: String = "100.5") -> Accounting.Entry {
        ("\(id)-0", [
            "type": "agg_trade", "symbol": "BTCUSDT", "event_time_ms": "\(id)", "agg_trade_id": "\(id)", "price": price, "qty": "1",
            "first_trade_id": "\(id)", "last_trade_id": "\(id)", "trade_time_ms": "\(id)", "side": "buy",
        ])
    }

    static let gap: Accounting.Entry = ("g-0", ["type": "gap", "reason": "reconnect", "gap_start_us": "0", "gap_end_us": "1"])

    @Test func countsEachKindOfLossWhereItBelongs() {
        let sent = (1...6).map { Self.trade($0) }
        let whole = Accounting.account(key: "s", sent: sent, entries: (1...6).map { Self.entry($0) })
        #expect(whole.delivered == 6 && whole.unaccounted == 0 && whole.inGap == 0 && whole.sequenceBreaks == 0 && whole.altered == 0)

        // Trade 3 lost silently: unaccounted, and the ids break.
        let lost = Accounting.account(key: "s", sent: sent, entries: [1, 2, 4, 5, 6].map { Self.entry($0) })
        #expect(lost.unaccounted == 1 && lost.sequenceBreaks == 1 && lost.delivered == 5)

        // Trade 3 lost behind a marker: inside the gap, and the ids may restart.
        let marked = Accounting.account(key: "s", sent: sent, entries: [Self.entry(1), Self.entry(2), Self.gap, Self.entry(4), Self.entry(5), Self.entry(6)])
        #expect(marked.unaccounted == 0 && marked.inGap == 1 && marked.sequenceBreaks == 0 && marked.gapReasons == ["reconnect": 1])

        // Written twice; a price changed.
        let twice = Accounting.account(key: "s", sent: sent, entries: (1...6).map { Self.entry($0) } + [Self.entry(6)])
        #expect(twice.duplicates == 1 && twice.sequenceBreaks == 0, "a repeat is a duplicate, not a break")
        let altered = Accounting.account(key: "s", sent: sent, entries: (1...5).map { Self.entry($0) } + [Self.entry(6, price: "100.6")])
        #expect(altered.altered == 1 && altered.unaccounted == 0)
        // The same value at another precision is not an alteration.
        let reformatted = Accounting.account(key: "s", sent: sent, entries: (1...5).map { Self.entry($0) } + [Self.entry(6, price: "100.50")])
        #expect(reformatted.altered == 0)

        // The last messages lost after the last entry: inside a marker's time window, or not.
        let tail = Accounting.account(key: "s", sent: sent, entries: [Self.entry(1), Self.entry(2), ("g-1", ["type": "gap", "gap_start_us": "1002", "gap_end_us": "1010"])])
        #expect(tail.inGap == 4 && tail.unaccounted == 0)
        let untold = Accounting.account(key: "s", sent: sent, entries: [Self.entry(1), Self.entry(2)])
        #expect(untold.unaccounted == 4)
    }

    /// A run with every kind of outcome: 3,000 trades; 101–110 lost behind a marker, 500 lost
    /// silently, 900 written twice (once at once, once 50 entries later), 1,200 altered.
    static func mixedRun() -> (sent: [Accounting.Sent], entries: [Accounting.Entry]) {
        let sent = (1...3_000).map { Self.trade(Int64($0)) }
        var entries: [Accounting.Entry] = []
        for id in Int64(1)...3_000 {
            if (101...110).contains(id) { continue }
            if id == 111 { entries.append(Self.gap) }
            if id == 500 { continue }
            entries.append(Self.entry(id, price: id == 1_200 ? "100.6" : "100.5"))
            if id == 900 || id == 950 { entries.append(Self.entry(900)) }
        }
        return (sent, entries)
    }

    static func same(_ a: Accounting.Stream, _ b: Accounting.Stream) -> Bool {
        [a.sent, a.delivered, a.inGap, a.unaccounted, a.duplicates, a.altered, a.sequenceBreaks, a.gapMarkers]
            == [b.sent, b.delivered, b.inGap, b.unaccounted, b.duplicates, b.altered, b.sequenceBreaks, b.gapMarkers]
    }

    @Test func aLedgerFedInPiecesAgreesWithTheWholeHistory() {
        let (sent, entries) = Self.mixedRun()
        let whole = Accounting.account(key: "s", sent: sent, entries: entries)
        #expect(whole.delivered == 2_989 && whole.inGap == 10 && whole.unaccounted == 1 && whole.duplicates == 2 && whole.altered == 1, "\(whole)")
        #expect(whole.sequenceBreaks == 3, "500 missing; the late 900 after 950, and 951 after it: \(whole)")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            // Entries run ahead of the messages fed, by 0–200 positions; some messages are
            // fed before their entry is read (it comes "late").
            var ledger = Accounting.Ledger(key: "s", keepBehind: 100)
            var read = 0, fed = 0
            while fed < sent.count {
                let upTo = min(sent.count, fed + Int.random(in: 0...300, using: &generator))
                let next = min(entries.count, max(read, upTo + Int.random(in: -100...200, using: &generator)))
                ledger.add(Array(entries[read..<next]))
                read = next
                for message in sent[fed..<upTo] { ledger.receive(message) }
                fed = upTo
                _ = ledger.evict()
                #expect(ledger.entriesHeld <= 100 + 300 + 50, "\(ledger.entriesHeld)")
            }
            ledger.add(Array(entries[read...]))
            #expect(Self.same(ledger.finished(), whole), "\(ledger.finished()) vs \(whole)")
        }
    }

    @Test func liveAccountingReadsTheLogAndStreamAsTheyGrowAndTrimsWhatItChecked() async throws {
        let (sent, entries) = Self.mixedRun()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("live-\(UUID().uuidString.prefix(8)).jsonl").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try #require(FileHandle(forWritingAtPath: path))
        defer { try? file.close() }
        let prefix = uniquePrefix()
        let key = "\(prefix):usdm:btcusdt@aggTrade"
        try await withRedisConnection(try SharedRedis.configuration()) { redis in
            let live = try LiveAccounting(log: path, streams: [("usdm", "btcusdt@aggTrade")], prefix: prefix, keepBehind: 100)
            var written = 0
            for (step, upTo) in stride(from: 500, through: 3_000, by: 500).enumerated() {
                // The entries of the messages up to `upTo`, then their log lines, the last
                // one torn in half (the rest comes with the next step).
                for entry in entries where Int64(entry.id.split(separator: "-")[0]).map({ $0 > written && $0 <= upTo }) ?? (entry.id == "g-0" && written == 0) {
                    _ = try await redis.send(["XADD", key, "*"] + entry.fields.flatMap { [$0.key, $0.value] })
                }
                var text = step == 0 ? #"{"send_time_us":1,"market":"usdm","stream":"btcusdt@aggTrade","conns":[1],"fault":"truncated","bytes":10}"# + "\n" : ""
                for message in sent[written..<upTo] {
                    text += #"{"send_time_us":\#(message.sendTime),"market":"usdm","stream":"btcusdt@aggTrade","conns":[1],"payload":\#(message.payload.text)}"# + "\n"
                }
                let bytes = Array(text.utf8)
                try file.write(contentsOf: Data(bytes[..<(bytes.count - 40)]))
                try await live.checkpoint(cutoff: .max, redis: redis)
                try file.write(contentsOf: Data(bytes[(bytes.count - 40)...]))
                written = upTo
                #expect(live.messagesFed == upTo - 1, "the torn last line waits for its newline")
            }
            try await live.checkpoint(cutoff: .max, redis: redis)
            #expect(live.messagesFed == 3_000)
            let result = try #require(live.accounting.streams.first)
            #expect(Self.same(result, Accounting.account(key: "s", sent: sent, entries: entries)), "\(result)")
            #expect(live.entriesTrimmed > 2_500, "\(live.entriesTrimmed)")
            let length = try await redis.send("XLEN", key).integer ?? -1
            #expect(length == entries.count - live.entriesTrimmed && length < 1_000, "\(length)")
            // A cutoff holds back the lines sent after it.
            let held = try LiveAccounting(log: path, streams: [("usdm", "btcusdt@aggTrade")], prefix: prefix)
            try await held.checkpoint(cutoff: 1_000 + 1_234, redis: redis)
            #expect(held.messagesFed == 1_234)
            _ = try await redis.send("DEL", key)
        }
    }
}

/// The API key never leaves the process except in its requests to Binance: not in the logs,
/// error replies, events, the status hash, stream entries, `/metrics` or `/readyz`, through a
/// run with data, errors and a reconnect.
@Suite("The API key stays secret", .timeLimit(.minutes(2)))
struct SecretTests {
    @Test func theKeyAppearsInNothingTheBridgeWrites() async throws {
        let secret = "K3y-s3cret-9f1c2d"
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let prefix = uniquePrefix()
            let arguments = try BridgeProcessDataTests().arguments(simulator, prefix: prefix)
            let port = try #require(arguments.firstIndex(of: "--http-port").flatMap { Int(arguments[$0 + 1]) })
            try await withRedisSubscriber(try SharedRedis.configuration(), channels: ["\(prefix):events"]) { events in
                var iterator = events.makeAsyncIterator()
                _ = try await next(&iterator)  // subscribed
                try await withRedisConnection(try SharedRedis.configuration()) { redis in
                    let bridge = try BridgeProcess(arguments: arguments + ["--log-level", "debug"], environment: ["BRIDGE_API_KEY": secret])
                    try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
                    var written: [String] = []
                    for command: JSONValue in [
                        ["op": "subscribe", "streams": ["btcusdt@aggTrade", "btcusdt@depth@100ms"]], ["op": "subscribe", "streams": ["nope@nothing"]],
                        ["op": "instruments.sync"], ["op": "status"], ["op": "list"], ["op": "frobnicate"],
                    ] {
                        written.append(try await sendCommand(command, prefix: prefix, redis: redis).text)
                    }
                    _ = try await redis.send("PUBLISH", "\(prefix):control", "{not json")
                    try await eventually("data flows") { try await streamEntries("\(prefix):usdm:btcusdt@aggTrade", redis: redis).count >= 5 }
                    _ = try await simulator.inject(.drop(.all))
                    try await eventually("a reconnect marker") {
                        try await streamEntries("\(prefix):usdm:btcusdt@aggTrade", redis: redis).contains { $0.fields["reason"] == "reconnect" }
                    }
                    try await Task.sleep(for: .seconds(1.5))  // a status hash refresh
                    written.append(try await httpGet(port: port, "/metrics").body)
                    written.append(try await httpGet(port: port, "/readyz").body)
                    written.append(try await redis.send("HGETALL", "\(prefix):status").array?.compactMap(\.string).joined(separator: " ") ?? "")
                    for key in try await redis.send("KEYS", "\(prefix):*").array?.compactMap(\.string) ?? [] where key.contains("@") {
                        written += try await streamEntries(key, redis: redis).map { "\($0.fields)" }
                    }
                    var eventCount = 0
                    while let event = try? await next(&iterator, within: .milliseconds(500)) {
                        written.append("\(event)")
                        eventCount += 1
                    }
                    bridge.signal(SIGTERM)
                    try await eventually("the bridge exits", timeout: .seconds(10)) { !bridge.processIsRunning }
                    written += [bridge.standardOutput, bridge.standardError]
                    #expect(eventCount > 5 && bridge.standardError.count > 1_000, "\(eventCount) events, \(bridge.standardError.count) bytes of log")
                    for text in written where text.contains(secret) {
                        Issue.record("the API key leaked: \(text.prefix(500))")
                    }
                    // The key was configured (the log says so without showing it).
                    #expect(bridge.standardError.contains("<redacted>") || written.joined().contains("api_key"), "\(bridge.standardError.prefix(1500))")
                }
            }
        }
    }
}

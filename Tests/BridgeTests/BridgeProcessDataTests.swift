import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// The real `binance-bridge` process with data flowing from the simulator: SIGTERM drains and
/// exits 0 within 5 s; SIGKILL and a restart bring the same subscriptions back behind
/// `restart` markers, with no command.
@Suite("binance-bridge process with data", .timeLimit(.minutes(3)), .serialized)
struct BridgeProcessDataTests {
    func arguments(_ simulator: BinanceSimulator, prefix: String) throws -> [String] {
        [
            "run", "--redis-url", try SharedRedis.urlString(), "--redis-prefix", prefix, "--log-level", "info",
            "--usdm-ws-url", "ws://127.0.0.1:\(simulator.ports.usdm)", "--usdm-rest-url", "http://127.0.0.1:\(simulator.ports.usdm)",
            "--coinm-ws-url", "ws://127.0.0.1:\(simulator.ports.coinm)", "--coinm-rest-url", "http://127.0.0.1:\(simulator.ports.coinm)",
            "--http-port", String(RedisServerProcess.freePort()),
        ]
    }

    func started(_ simulator: BinanceSimulator, prefix: String) async throws -> BridgeProcess {
        let bridge = try BridgeProcess(arguments: try arguments(simulator, prefix: prefix))
        try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
        return bridge
    }

    func tradeIds(_ redis: RedisConnection, _ key: String) async throws -> [Int64] {
        try await streamEntries(key, redis: redis).compactMap { $0.fields["agg_trade_id"].flatMap(Int64.init) }
    }

    @Test func sigtermDrainsEverythingAndExitsZeroWithinFiveSeconds() async throws {
        var configuration = testSimulatorConfiguration()
        configuration.rate = 200
        configuration.tradeRatio = 0.5
        try await withBinanceSimulator(configuration) { simulator in
            let prefix = uniquePrefix()
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                let bridge = try await started(simulator, prefix: prefix)
                let reply = try await sendCommand(["op": "subscribe", "streams": ["btcusdt@aggTrade", "ethusdt@aggTrade"]], prefix: prefix, redis: redis)
                #expect(reply["ok"] == true, "\(reply.text)")
                let key = "\(prefix):usdm:btcusdt@aggTrade"
                try await eventually("trades flow") { try await tradeIds(redis, key).count >= 20 }
                let stopping = ContinuousClock.now
                bridge.signal(SIGTERM)
                try await eventually("the process exits", timeout: .seconds(10)) { !bridge.isRunning }
                let took = ContinuousClock.now - stopping
                #expect(bridge.exitStatus == 0, "stderr: \(bridge.standardError.suffix(2000))")
                #expect(took < .seconds(5), "took \(took)")
                #expect(bridge.standardError.contains("binance-bridge stopped"))
                // Everything read was written: the ids are consecutive to the end.
                let ids = try await tradeIds(redis, key)
                #expect(zip(ids, ids.dropFirst()).allSatisfy { $1 == $0 + 1 }, "holes in \(ids.suffix(20))")
                // The desired set is kept for the next start.
                let desired = try await redis.send("SMEMBERS", "\(prefix):subscriptions:usdm").array?.compactMap(\.string) ?? []
                #expect(Set(desired) == ["btcusdt@aggTrade", "ethusdt@aggTrade"])
            }
        }
    }

    @Test func metricsInPrometheusTextFormat() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let prefix = uniquePrefix()
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                let arguments = try arguments(simulator, prefix: prefix)
                let port = try #require(arguments.firstIndex(of: "--http-port").flatMap { Int(arguments[$0 + 1]) })
                let bridge = try BridgeProcess(arguments: arguments)
                defer { bridge.signal(SIGKILL) }
                try await eventually("ready") { (try? await httpGet(port: port, "/readyz").status) == 200 }
                #expect(try await sendCommand(["op": "subscribe", "streams": ["btcusdt@aggTrade", "btcusdt@depth@100ms"]], prefix: prefix, redis: redis)["ok"] == true)
                try await eventually("trades flow") { try await tradeIds(redis, "\(prefix):usdm:btcusdt@aggTrade").count >= 5 }
                let metrics = try await httpGet(port: port, "/metrics")
                #expect(metrics.status == 200)
                let text = metrics.body
                /// The value of the first sample whose line starts with `prefix`.
                func value(_ prefix: String) -> Double? {
                    text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
                }
                #expect((value(#"binance_bridge_messages_in_total{market="usdm",type="agg_trade"}"#) ?? 0) >= 5, "\(text.prefix(3000))")
                #expect((value(#"binance_bridge_messages_in_total{market="usdm",type="depth"}"#) ?? 0) >= 1)
                #expect((value(#"binance_bridge_bytes_in_total{market="usdm"}"#) ?? 0) > 1_000)
                #expect((value(#"binance_bridge_entries_out_by_type_total{type="agg_trade"}"#) ?? 0) >= 5)
                #expect((value(#"binance_bridge_entries_out_by_type_total{type="status"}"#) ?? 0) >= 2, "subscribed markers")
                #expect((value("binance_bridge_entries_out_total") ?? 0) >= 7)
                #expect((value("binance_bridge_end_to_end_lag_seconds_count") ?? 0) >= 5)
                #expect(text.contains("binance_bridge_end_to_end_lag_seconds_bucket{le="))
                #expect((value("binance_bridge_xadd_batch_seconds_count") ?? 0) >= 1)
                // aggTrade on /market, depth on /public: two sockets.
                #expect(value(#"binance_bridge_connections{market="usdm",state="open"}"#) == 2)
                #expect(value(#"binance_bridge_streams{market="usdm",state="confirmed"}"#) == 2)
                #expect(value("binance_bridge_redis_up") == 1)
                #expect((value(#"binance_bridge_control_commands_total{"#) ?? 0) >= 1)
                #expect(text.contains("# TYPE binance_bridge_messages_in_total counter"))
                #expect(try await httpGet(port: port, "/healthz").status == 200)
            }
        }
    }

    @Test func sigkillThenRestartRestoresTheSubscriptionsBehindRestartMarkers() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let prefix = uniquePrefix()
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                let key = "\(prefix):usdm:btcusdt@bookTicker"
                do {
                    let bridge = try await started(simulator, prefix: prefix)
                    _ = try await sendCommand(["op": "subscribe", "streams": ["btcusdt@bookTicker", "btcusdt@markPrice@1s"]], prefix: prefix, redis: redis)
                    try await eventually("data flows") { (try await redis.send("XLEN", key).integer ?? 0) >= 10 }
                    bridge.signal(SIGKILL)
                    try await eventually("the process is gone") { !bridge.isRunning }
                }
                let killedAt = WallClock.microseconds()
                let before = try await redis.send("XLEN", key).integer ?? 0
                let restarted = try await started(simulator, prefix: prefix)
                try await eventually("a restart marker, then data again", timeout: .seconds(30)) {
                    let entries = try await streamEntries(key, redis: redis)
                    guard let marker = entries.lastIndex(where: { $0.fields["reason"] == "restart" }) else { return false }
                    return entries.count > marker + 2
                }
                #expect((try await redis.send("XLEN", key).integer ?? 0) > before)
                let list = try await sendCommand(["op": "list"], prefix: prefix, redis: redis)
                #expect(list["result"]?["streams"]?.array?.compactMap { $0["stream"]?.string } == ["btcusdt@bookTicker", "btcusdt@markPrice@1s"])
                // The marker's window covers the time the bridge was away.
                let marker = try await streamEntries(key, redis: redis).last { $0.fields["reason"] == "restart" }?.fields ?? [:]
                #expect((marker["gap_start_us"].flatMap(Int64.init) ?? .max) <= killedAt && (marker["gap_end_us"].flatMap(Int64.init) ?? 0) >= killedAt, "\(marker)")
                restarted.signal(SIGTERM)
                try await eventually("the restarted process exits") { !restarted.isRunning }
                #expect(restarted.exitStatus == 0)
            }
        }
    }
}

extension BridgeProcess {
    /// Whether the process still runs.
    var isRunning: Bool { processIsRunning }
}

import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// Redis stops answering mid-stream (SIGSTOP, then SIGCONT: its data survives, as after a
/// long pause or a failover). The simulator's aggregate trade ids are consecutive, so a hole
/// in a stream's ids is exactly what was lost.
@Suite("Publisher under a Redis outage", .timeLimit(.minutes(3)), .serialized)
struct RedisOutageTests {
    /// The aggregate trade ids in `stream`, and the `dropped` counts of its overflow markers,
    /// in stream order. Duplicates (a batch retried after a timeout may have run) are removed.
    func tradeIds(_ bridge: BridgeHarness, _ stream: String) async throws -> (ids: [Int64], overflow: [(index: Int, dropped: Int64)]) {
        var ids: [Int64] = []
        var seen = Set<Int64>()
        var overflow: [(Int, Int64)] = []
        // The test's connection has the bridge's short command timeout (500 ms): right after
        // SIGCONT, Redis works through the bridge's backlog and a read can time out (seen on
        // a loaded machine). Retried a few times; the bridge itself retries likewise.
        var entries: [(id: String, fields: [String: String])]?
        for attempt in 1...10 where entries == nil {
            do {
                entries = try await bridge.entries(stream)
            } catch let error as RedisClientError where !error.isServerError && attempt < 10 {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        for entry in entries ?? [] {
            if entry.fields["type"] == "gap", entry.fields["reason"] == "overflow" {
                overflow.append((ids.count, Int64(entry.fields["dropped"] ?? "") ?? -1))
            } else if let id = entry.fields["agg_trade_id"].flatMap(Int64.init), seen.insert(id).inserted {
                ids.append(id)
            }
        }
        return (ids, overflow)
    }

    func withPausedRedis(bufferBytes: Int, pause: Duration, _ check: (BridgeHarness, _ ids: [Int64], _ overflow: [(index: Int, dropped: Int64)]) async throws -> Void) async throws {
        let server = try RedisServerProcess()
        try server.start()
        var simulator = testSimulatorConfiguration()
        simulator.rate = 200  // ≈ 40 trades/s on the symbol
        simulator.tradeRatio = 0.5
        try await withBinanceSimulator(simulator) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix(), redisURL: "\(server.url)")
            configuration.publisher.bufferBytes = bufferBytes
            configuration.redis.commandTimeout = .milliseconds(500)
            configuration.redis.connectTimeout = .milliseconds(500)
            configuration.instruments.syncOnStart = false
            try await BridgeHarness.with(configuration) { bridge in
                let stream = "btcusdt@aggTrade"
                _ = try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms"]])
                try await eventually("trades flow") { try await bridge.entries(stream).count >= 10 }
                server.send(signal: SIGSTOP)
                try await Task.sleep(for: pause)
                server.send(signal: SIGCONT)
                let before = try await tradeIds(bridge, stream).ids.count
                try await eventually("trades flow again after the outage", timeout: .seconds(30)) {
                    try await tradeIds(bridge, stream).ids.count >= before + 20
                }
                let (ids, overflow) = try await tradeIds(bridge, stream)
                try await check(bridge, ids, overflow)
            }
        }
        server.stop()
    }

    @Test func nothingIsLostWhenTheBufferSuffices() async throws {
        try await withPausedRedis(bufferBytes: 64 << 20, pause: .seconds(3)) { bridge, ids, overflow in
            #expect(overflow.isEmpty)
            #expect(!ids.isEmpty)
            // Consecutive from the first to the last: the outage lost nothing.
            let holes = zip(ids, ids.dropFirst()).filter { $1 != $0 + 1 }
            #expect(holes.isEmpty, "holes: \(holes.prefix(5))")
            #expect(bridge.components.coordinator.publisher.statistics.dropped == 0)
        }
    }

    @Test func anOverflowIsMarkedWithTheExactDroppedCount() async throws {
        try await withPausedRedis(bufferBytes: 16 << 10, pause: .seconds(3)) { bridge, ids, overflow in
            let publisher = bridge.components.coordinator.publisher.statistics
            #expect(publisher.dropped > 0)
            #expect(overflow.count >= 1, "no overflow marker")
            // Every hole in the ids sits exactly where an overflow marker is, and is exactly
            // as wide as the marker says.
            for index in ids.indices.dropFirst() where ids[index] != ids[index - 1] + 1 {
                let missing = ids[index] - ids[index - 1] - 1
                // Markers are written before the entries that survived, so a marker at
                // position `index` (its stream order) explains the hole before ids[index].
                let explained = overflow.filter { $0.index == index }.map(\.dropped).reduce(0, +)
                #expect(missing == explained, "hole of \(missing) before id \(ids[index]) explained by \(explained)")
            }
            // And every marker's count matches a hole (or the ids lost before the first id read).
            let totalMarked = overflow.map(\.dropped).reduce(0, +)
            let totalMissing = zip(ids, ids.dropFirst()).map { $1 - $0 - 1 }.reduce(0, +)
            #expect(totalMarked == totalMissing, "marked \(totalMarked), missing \(totalMissing)")
        }
    }
}

import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Synchronization
import Testing

/// The consumer examples in `examples/` run against a real bridge (in-process), the simulator
/// and a real Redis, and what they print is checked: they are documentation that cannot rot.
@Suite("Examples", .timeLimit(.minutes(2)))
struct ExamplesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `executable arguments` from the repository root; status and output. Waits without
    /// blocking a thread of the cooperative pool (the in-process bridge needs them), bounded
    /// by the examples' own timeouts (at most 30 s) and `timeout`.
    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        process.currentDirectoryURL = Self.root
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Mutex((stdout: Data(), stderr: Data()))
        let out = Pipe(), err = Pipe()
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { $0.stdout.append(data) }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { $0.stderr.append(data) }
        }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw TestError("\(executable) \(arguments) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))  // the pipes' last bytes
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        let (stdout, stderr) = output.withLock { ($0.stdout, $0.stderr) }
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test func pythonControlClientAndConsumerGroupReader() async throws {
        let hasRedisPy = try await run("python3", ["-c", "import redis"]).status == 0
        #expect(hasRedisPy, "redis-py is missing: scripts/test.sh installs it (pip install redis)")
        guard hasRedisPy else { return }
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let url = try SharedRedis.urlString()
                let subscribe = try await run("python3", ["examples/python/control.py", "--redis-url", url, "--prefix", bridge.prefix, "subscribe", "btcusdt@aggTrade"])
                #expect(subscribe.status == 0, "\(subscribe)")
                let reply = try #require(JSONValue.parse(Array(subscribe.stdout.utf8)), "\(subscribe.stdout)")
                #expect(reply["ok"] == true && reply["result"]?["added"] == ["btcusdt@aggTrade"])
                let refused = try await run("python3", ["examples/python/control.py", "--redis-url", url, "--prefix", bridge.prefix, "subscribe", "nope"])
                #expect(refused.status == 1 && refused.stdout.contains("\"ok\": false"), "\(refused)")

                let key = "\(bridge.prefix):usdm:btcusdt@aggTrade"
                let consumed = try await run("python3", ["examples/python/consumer.py", "--redis-url", url, "--stream", key, "--group", "g1", "--count", "5", "--seconds", "30"])
                #expect(consumed.status == 0, "\(consumed)")
                let summary = try #require(JSONValue.parse(Array(consumed.stdout.split(separator: "\n").last.map(String.init)?.utf8 ?? "".utf8)), "\(consumed.stdout)")
                #expect((summary["data"]?.integer ?? 0) >= 5)
                #expect(summary["statuses"]?.array?.first == "subscribed", "the subscribed marker comes first: \(consumed.stdout)")
                #expect(summary["last_price"]?.string?.contains(".") == true)
                // Acknowledged: nothing pending for the group.
                let pending = try await bridge.redis.send("XPENDING", key, "g1")
                #expect(pending.array?.first?.integer == 0, "\(pending)")
            }
        }
    }

    @Test func redisCLIWalkthrough() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let url = try RedisURL(parsing: try SharedRedis.urlString())
                guard case .tcp(let host, let port) = url.address else { throw TestError("the walkthrough needs a TCP Redis") }
                let walk = try await run("bash", ["examples/redis-cli-walkthrough.sh"], environment: ["REDIS_HOST": host, "REDIS_PORT": String(port), "PREFIX": bridge.prefix])
                #expect(walk.status == 0, "\(walk)")
                #expect(walk.stdout.contains(#""ok":true"#))
                #expect(walk.stdout.contains("subscribed"), "the first entry is the subscribed marker: \(walk.stdout)")
                #expect(walk.stdout.contains("agg_trade"))
                #expect(walk.stdout.contains("# done"))
            }
        }
    }

    /// The reference book consumer rebuilds BTCUSDT's book from the stream alone — through a
    /// sequence gap injected while it reads — and ends with the simulator's book.
    @Test func pythonBookConsumerRebuildsTheSimulatorsBook() async throws {
        let hasRedisPy = try await run("python3", ["-c", "import redis"]).status == 0
        #expect(hasRedisPy, "redis-py is missing: scripts/test.sh installs it (pip install redis)")
        guard hasRedisPy else { return }
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            configuration.books.enabled = true
            configuration.books.snapshotEveryUpdates = 10
            try await BridgeHarness.with(configuration) { bridge in
                let stream = "btcusdt@depth@100ms"
                _ = try await bridge.command(["op": "subscribe", "market": "usdm", "streams": [.string(stream)]])
                let url = try SharedRedis.urlString()
                async let consumed = run("python3", [
                    "examples/python/book_consumer.py", "--redis-url", url, "--stream", "\(bridge.prefix):usdm:\(stream)",
                    "--from-start", "--updates", "120", "--seconds", "40",
                ])
                try await eventually("the book synced") { try await bridge.entries(stream).contains { $0.fields["source"] == "rest" } }
                try await Task.sleep(for: .seconds(3))
                try await simulator.inject(.sequenceGap(market: .usdm, symbol: "BTCUSDT"))
                let result = try await consumed
                #expect(result.status == 0, "\(result.stdout.prefix(500)) \(result.stderr)")
                let summary = try #require(JSONValue.parse(Array(result.stdout.utf8)), "\(result.stdout.prefix(500))")
                #expect(summary["gaps"]?.integer == 1, "the injected gap: \(summary["gaps"]?.text ?? "")")
                #expect((summary["checked_snapshots"]?.integer ?? 0) >= 3, "it checked the bridge's periodic snapshots")
                #expect(summary["checksum_mismatches"]?.integer == 0)
                let lastUpdateId = try #require(summary["last_update_id"]?.integer)
                let truth = try await simulator.bookChecksum(market: .usdm, symbol: "BTCUSDT", at: lastUpdateId)
                #expect(truth.map(String.init) == summary["checksum"]?.string, "the consumer's book is the simulator's at \(lastUpdateId)")
                #expect((summary["bids"]?.array?.count ?? 0) > 100 && (summary["asks"]?.array?.count ?? 0) > 100)
            }
        }
    }
}

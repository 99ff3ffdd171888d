import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import TestSupport
import Testing

/// `binance-bridge ctl`, `tail` and `healthcheck`, run as processes against a bridge, as an
/// operator runs them.
@Suite("ctl, tail, healthcheck", .timeLimit(.minutes(2)))
struct CommandLineToolTests {
    @Test func wordsBecomeContractCommands() throws {
        #expect(try ControlClient.command(["subscribe", "btcusdt@aggTrade", "ethusdt@depth@100ms"], market: nil, id: 1)
            == ["id": 1, "op": "subscribe", "streams": ["btcusdt@aggTrade", "ethusdt@depth@100ms"]])
        #expect(try ControlClient.command(["list"], market: "coinm", id: 2) == ["id": 2, "op": "list", "market": "coinm"])
        #expect(try ControlClient.command(["instruments", "sync"], market: nil, id: 3) == ["id": 3, "op": "instruments.sync"])
        for bad in [[], ["subscribe"], ["list", "extra"], ["instruments", "delete"], ["frobnicate"]] {
            #expect(throws: ControlClient.Failure.self, "\(bad)") { _ = try ControlClient.command(bad, market: nil, id: 1) }
        }
    }

    /// Runs `binance-bridge <arguments>` to its end (bounded); returns status and output.
    /// Waits with `Task.sleep`, not by blocking a thread: the in-process bridge it talks to
    /// runs on the same cooperative pool (2 threads here).
    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try BridgeProcess(arguments: arguments)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.processIsRunning {
            guard ContinuousClock.now < deadline else { throw TestError("binance-bridge \(arguments) did not exit within 30 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))  // the pipes' last bytes
        return (process.exitStatus, process.standardOutput, process.standardError)
    }

    @Test func ctlAndTailAgainstARunningBridge() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let redis = ["--redis-url", try SharedRedis.urlString(), "--redis-prefix", bridge.prefix]
                let subscribed = try await run(["ctl"] + redis + ["subscribe", "btcusdt@aggTrade"])
                #expect(subscribed.status == 0, "\(subscribed)")
                let reply = try #require(JSONValue.parse(Array(subscribed.stdout.utf8)), "\(subscribed.stdout)")
                #expect(reply["ok"] == true && reply["result"]?["added"] == ["btcusdt@aggTrade"])

                let listed = try await run(["ctl"] + redis + ["list"])
                #expect(listed.status == 0 && listed.stdout.contains("btcusdt@aggTrade"), "\(listed)")
                // The README's other examples: COIN-M, status, an instrument sync.
                let coinm = try await run(["ctl"] + redis + ["--market", "coinm", "list"])
                #expect(coinm.status == 0 && !coinm.stdout.contains("btcusdt@aggTrade"), "\(coinm)")
                let status = try await run(["ctl"] + redis + ["status"])
                #expect(status.status == 0 && JSONValue.parse(Array(status.stdout.utf8))?["result"]?["streams"] == 1, "\(status)")
                let sync = try await run(["ctl"] + redis + ["instruments", "sync"])
                #expect(sync.status == 0 && (JSONValue.parse(Array(sync.stdout.utf8))?["result"]?["instruments"]?.integer ?? 0) > 0, "\(sync)")

                // An error reply: printed, exit status 1.
                let refused = try await run(["ctl"] + redis + ["subscribe", "btcusdt@nonsense"])
                #expect(refused.status == 1, "\(refused)")
                #expect(JSONValue.parse(Array(refused.stdout.utf8))?["ok"] == false)

                // The subscription's entries, from the start: the `subscribed` marker first.
                try await eventually("trades") { try await bridge.entries("btcusdt@aggTrade").count >= 3 }
                let tailed = try await run(["tail"] + redis + ["--from-start", "--count", "3", "btcusdt@aggTrade"])
                #expect(tailed.status == 0, "\(tailed)")
                let lines = tailed.stdout.split(separator: "\n")
                #expect(lines.count == 3, "\(tailed.stdout)")
                #expect(lines.first?.contains("\(bridge.prefix):usdm:btcusdt@aggTrade type=status") == true, "\(tailed.stdout)")
                #expect(lines.first?.contains("status=subscribed") == true)
                #expect(lines.dropFirst().allSatisfy { $0.contains("type=agg_trade") && $0.contains("price=") })
                #expect(!tailed.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")

                let port = await bridge.components.http.boundPort()
                #expect(try await run(["healthcheck", "--url", "http://127.0.0.1:\(port)/healthz"]).status == 0)
            }
        }
    }

    @Test func demoShowsDataFlowingThenStopsCleanly() async throws {
        // With the test Redis.
        let url = try SharedRedis.urlString()
        let demo = try BridgeProcess(arguments: ["demo", "--seconds", "5", "--redis-prefix", uniquePrefix()], environment: ["BRIDGE_REDIS_URL": url])
        let (status, stdout) = try await Self.finish(demo, within: .seconds(40))
        #expect(status == 0, "stdout: \(stdout.suffix(2000)) stderr: \(demo.standardError.suffix(2000))")
        #expect(stdout.contains("subscribe btcusdt@aggTrade") && stdout.contains("→ ok"), "\(stdout.prefix(1500))")
        // The last table shows every default stream with entries.
        let table = stdout.components(separatedBy: "\n\n").last { $0.contains("msg/s") } ?? ""
        for stream in ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@markPrice@1s"] {
            let row = table.split(separator: "\n").first { $0.hasPrefix(stream + " ") }
            let entries = row.flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first }.flatMap { Int($0) } ?? 0
            #expect(entries > 0, "\(stream): \(row ?? "no row") in \(table)")
        }
        #expect(stdout.contains("demo stopped"))

        // With no Redis answering: its own redis-server child, stopped on exit.
        let alone = try BridgeProcess(arguments: ["demo", "--seconds", "3"], environment: ["BRIDGE_REDIS_URL": "redis://127.0.0.1:1/0"])
        let (aloneStatus, aloneOut) = try await Self.finish(alone, within: .seconds(40))
        #expect(aloneStatus == 0, "\(aloneOut.suffix(2000)) \(alone.standardError.suffix(2000))")
        let pid = try #require(aloneOut.split(separator: "\n").first { $0.hasPrefix("redis-server pid ") }?.split(separator: " ")[2]).flatMap { Int32($0) }
        #expect(kill(try #require(pid), 0) != 0, "the demo's redis-server \(pid.map(String.init) ?? "?") is gone")
    }

    /// A demo killed outright (no chance to clean up) still takes its redis-server with it.
    @Test func aKilledDemoTakesItsRedisServerWithIt() async throws {
        let demo = try BridgeProcess(arguments: ["demo", "--seconds", "60"], environment: ["BRIDGE_REDIS_URL": "redis://127.0.0.1:1/0"])
        var pid: Int32?
        try await eventually("the demo started its redis-server", timeout: .seconds(30)) {
            pid = demo.standardOutput.split(separator: "\n").first { $0.hasPrefix("redis-server pid ") }.flatMap { Int32($0.split(separator: " ")[2]) }
            return pid != nil
        }
        let server = try #require(pid)
        #expect(kill(server, 0) == 0, "redis-server \(server) runs")
        demo.signal(SIGKILL)
        do {
            try await eventually("redis-server \(server) is gone", timeout: .seconds(10)) { kill(server, 0) != 0 }
        } catch {
            kill(server, SIGKILL)  // ours, still running: do not leave it behind
            throw error
        }
        _ = try await Self.finish(demo, within: .seconds(10))
    }

    /// Waits (Task.sleep, bounded) for `process` to exit; its status and standard output.
    static func finish(_ process: BridgeProcess, within timeout: Duration) async throws -> (Int32, String) {
        let deadline = ContinuousClock.now + timeout
        while process.processIsRunning {
            guard ContinuousClock.now < deadline else {
                process.signal(SIGKILL)
                throw TestError("did not exit within \(timeout): \(process.standardOutput.suffix(1000)) \(process.standardError.suffix(1000))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(100))
        return (process.exitStatus, process.standardOutput)
    }

    @Test func ctlWithoutABridgeOrWithBadWordsFailsClearly() async throws {
        let redis = ["--redis-url", try SharedRedis.urlString(), "--redis-prefix", uniquePrefix()]
        let nobody = try await run(["ctl"] + redis + ["status"])
        #expect(nobody.status == 3, "\(nobody)")
        #expect(nobody.stderr.contains("no bridge listens on"), "\(nobody.stderr)")
        let bad = try await run(["ctl"] + redis + ["frobnicate"])
        #expect(bad.status == 64 && bad.stderr.contains("unknown command"), "\(bad)")
        #expect(try await run(["healthcheck", "--url", "http://127.0.0.1:1/healthz"]).status == 1)
    }
}

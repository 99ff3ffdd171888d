import BinanceSimulator
@testable import Bridge
import BridgeCore
import Foundation
import RedisClient
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

                // `ctl unsubscribe`: a stream added for it, then removed again.
                #expect(try await run(["ctl"] + redis + ["subscribe", "ethusdt@bookTicker"]).status == 0)
                let unsubscribed = try await run(["ctl"] + redis + ["unsubscribe", "ethusdt@bookTicker"])
                #expect(unsubscribed.status == 0, "\(unsubscribed)")
                #expect(JSONValue.parse(Array(unsubscribed.stdout.utf8))?["result"]?["removed"] == ["ethusdt@bookTicker"], "\(unsubscribed.stdout)")
                let after = try await run(["ctl"] + redis + ["list"])
                #expect(!after.stdout.contains("ethusdt@bookTicker"), "\(after.stdout)")

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

    /// A listener on the control channel that never answers (a hung bridge): `ctl` gives up
    /// after `--timeout` with status 3 and says so.
    @Test func ctlGivesUpWhenNoReplyComes() async throws {
        let prefix = uniquePrefix()
        let url = try RedisURL(parsing: try SharedRedis.urlString())
        guard case .tcp(let host, let port) = url.address else { throw TestError("needs a TCP Redis") }
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = ["redis-cli", "-h", host, "-p", String(port), "SUBSCRIBE", prefix + ":control"]
        listener.standardOutput = FileHandle.nullDevice
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL) }
        let redis = ["--redis-url", try SharedRedis.urlString(), "--redis-prefix", prefix]
        try await eventually("the silent listener is subscribed") {
            try await withRedisConnection(try SharedRedis.configuration()) { try await $0.send("PUBSUB", "NUMSUB", prefix + ":control").array?.last?.integer == 1 }
        }
        let started = ContinuousClock.now
        let hung = try await run(["ctl"] + redis + ["--timeout", "1.5", "status"])
        let waited = ContinuousClock.now - started
        #expect(hung.status == 3, "\(hung)")
        #expect(hung.stderr.contains("no reply"), "\(hung.stderr)")
        #expect(hung.stdout.isEmpty)
        #expect(waited >= .milliseconds(1_500) && waited < .seconds(20), "\(waited)")
    }

    /// On a terminal (`script` gives `tail` a pseudo-terminal), markers are highlighted: `gap`
    /// bold red, `status` yellow; data entries stay plain.
    @Test func tailHighlightsMarkersOnATerminal() async throws {
        let prefix = uniquePrefix()
        let key = "\(prefix):usdm:btcusdt@aggTrade"
        try await withRedisConnection(try SharedRedis.configuration()) { redis in
            _ = try await redis.send("XADD", key, "*", "type", "status", "status", "subscribed")
            _ = try await redis.send("XADD", key, "*", "type", "agg_trade", "price", "25000.1")
            _ = try await redis.send("XADD", key, "*", "type", "gap", "reason", "reconnect", "gap_start_us", "1", "gap_end_us", "2")
        }
        let command = [try BridgeProcess.executable().path, "tail", "--redis-url", try SharedRedis.urlString(), "--redis-prefix", prefix, "--from-start", "--count", "3", "btcusdt@aggTrade"]
        let result = try await ExamplesTests().run("script", ["-qec", command.joined(separator: " "), "/dev/null"], timeout: .seconds(30))
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.count == 3, "\(result.stdout.debugDescription)")
        #expect(lines.first { $0.contains("type=status") }?.hasPrefix("\u{1B}[33m") == true, "\(lines)")
        #expect(lines.first { $0.contains("type=gap") }?.hasPrefix("\u{1B}[1;31m") == true, "\(lines)")
        #expect(lines.first { $0.contains("type=agg_trade") }.map { !$0.contains("\u{1B}[") } == true, "\(lines)")
    }

    /// The demo's rows: data entries counted per second, their median lag, the last price
    /// (trades, mark prices, book tops), gap markers counted, status markers skipped.
    @Test func demoRowsCountDataLagPricesAndGaps() {
        var row = DemoView.Row(stream: "btcusdt@aggTrade")
        DemoView.absorb([
            ("1700000000000-0", ["type": "status", "status": "subscribed"]),
            ("1700000000010-0", ["type": "agg_trade", "price": "25000.1", "recv_time_us": "1700000000007000"]),
            ("1700000000020-0", ["type": "agg_trade", "price": "25000.2", "recv_time_us": "1700000000019500"]),
            ("1700000000030-0", ["type": "gap", "reason": "reconnect"]),
            ("1700000000040-0", ["type": "agg_trade", "price": "25000.3", "recv_time_us": "1700000000038000"]),
        ], into: &row, elapsed: 2)
        #expect(row.total == 3 && row.perSecond == 1.5 && row.gaps == 1 && row.lastPrice == "25000.3" && row.lastID == "1700000000040-0")
        #expect(row.lagMilliseconds == 2)  // lags 3, 0.5, 2 ms: the median
        DemoView.absorb([("1700000000050-0", ["type": "depth_update", "bids": #"[["24999.9","1.5"]]"#, "recv_time_us": "1700000000049800"])], into: &row, elapsed: 1)
        #expect(row.total == 4 && row.perSecond == 1 && row.lastPrice == "24999.9" && row.lagMilliseconds == 0.2)
        let table = DemoView.render([row], interactive: false, header: "H")
        #expect(!table.contains("\u{1B}[") && !table.contains("H\n"))
        let cells = table.split(separator: "\n")[1].split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells == ["btcusdt@aggTrade", "1", "4", "<1", "ms", "24999.9", "1"], "\(table)")
        #expect(DemoView.render([row], interactive: true, header: "H").hasPrefix("\u{1B}[H\u{1B}[2JH\n"))
    }

    /// On a terminal the demo redraws in place (cursor home, clear) each second, under a
    /// header, with the lag and gaps columns.
    @Test func demoRedrawsInPlaceOnATerminal() async throws {
        let command = [try BridgeProcess.executable().path, "demo", "--seconds", "4", "--redis-prefix", uniquePrefix()]
        let result = try await ExamplesTests().run(
            "script", ["-qec", command.joined(separator: " "), "/dev/null"], environment: ["BRIDGE_REDIS_URL": try SharedRedis.urlString()], timeout: .seconds(60)
        )
        #expect(result.status == 0, "\(result.stdout.suffix(1500)) \(result.stderr.suffix(1500))")
        let frames = result.stdout.components(separatedBy: "\u{1B}[H\u{1B}[2J").dropFirst()
        #expect(frames.count >= 2, "redrawn at least twice: \(result.stdout.suffix(1500).debugDescription)")
        let last = frames.last { $0.contains("msg/s") } ?? ""
        for column in ["stream", "msg/s", "entries", "lag p50", "last price", "gaps"] { #expect(last.contains(column), "\(column) in \(last)") }
        let row = last.split(whereSeparator: \.isNewline).first { $0.hasPrefix("btcusdt@aggTrade ") }
        let cells = row.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
        #expect((cells.count >= 3 ? Int(cells[2]) : nil).map { $0 > 0 } == true, "entries in \(String(describing: row))")
        #expect(row?.contains(" ms") == true, "a lag in ms: \(String(describing: row))")
        #expect(cells.last == "0", "no gaps: \(String(describing: row))")
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

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport
import WSClient

/// The `binance-sim` executable as users script it: ports file, admin API, clean SIGTERM exit.
@Suite("binance-sim executable", .timeLimit(.minutes(1)))
struct SimProcessTests {
    static func executable() throws -> URL {
        // The test bundle lives in the build products directory, beside the executables.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("binance-sim")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        Issue.record("binance-sim not found near the test bundle; build with `swift build --build-tests`")
        throw CancellationError()
    }

    /// Starts the simulator; its standard error is the returned pipe, its standard output
    /// goes to `output` (discarded when nil).
    static func run(_ arguments: [String], output: Pipe? = nil) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = output ?? FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    static func wait(_ process: Process, within timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                Issue.record("binance-sim did not exit within \(timeout)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    @Test func portsFileAdminAPIAndCleanExit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let portsFile = directory.appendingPathComponent("ports.json").path
        let truth = directory.appendingPathComponent("truth.jsonl").path
        let (process, _) = try Self.run(["--usdm-port", "0", "--coinm-port", "0", "--admin-port", "0", "--ports-file", portsFile,
                                         "--seed", "3", "--rate", "100", "--ground-truth", truth])
        defer { if process.isRunning { process.terminate() } }
        let ports = try #require(try await Self.ports(portsFile, of: process) as? [String: Int])
        let admin = try #require(ports["admin"])
        #expect(Set(ports.keys) == ["usdm", "coinm", "admin"])
        let status = try await SimRESTTests.get(admin, "/status")
        #expect((status.json as? [String: Any])?["ports"] as? [String: Int] == ["usdm": ports["usdm"]!, "coinm": ports["coinm"]!])
        // A window a loaded machine still makes its request within (the request is what is
        // tested; 1 s was seen to pass before it was sent).
        #expect(try await SimFaultTests.post(admin, "/faults/refuse-connections?seconds=3").json["ok"] as? Bool == true)
        // Timed from the reply: the window starts when the simulator handles the request, which
        // on a loaded machine is later than when the test sent it.
        let refusing = ContinuousClock.now
        // Refusal covers every TCP connection to the market ports, REST included.
        await #expect(throws: (any Error).self) { try await SimRESTTests.get(ports["usdm"]!, "/fapi/v1/ping") }
        try await Task.sleep(until: refusing + .milliseconds(3_100))
        #expect(try await SimRESTTests.get(ports["usdm"]!, "/fapi/v1/ping").status == 200)
        process.interrupt()  // SIGINT
        #expect(try await Self.wait(process, within: .seconds(5)) == 0)
        #expect(FileManager.default.fileExists(atPath: truth))
    }

    /// Waits (bounded) for `path` to be written; its JSON object.
    static func ports(_ path: String, of process: Process) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(10)
        while FileManager.default.contents(atPath: path)?.isEmpty ?? true {
            guard ContinuousClock.now < deadline, process.isRunning else {
                Issue.record("no ports file")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Settings from `--config` (YAML, stream rates included), flags over them, the ports
    /// file's three keys with `admin` null when there is no admin port, and exit 0 on SIGTERM.
    @Test func configFileFlagsOverItAndSIGTERMExitsCleanly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sim.yaml").path
        let portsFile = directory.appendingPathComponent("ports.json").path
        try """
            usdm_port: 0
            coinm_port: 0
            symbols: [BTCUSDT, BTCUSD_PERP]
            rate: 20
            stream_rates: {ticker: 10, kline: 1}
            max_streams: 3
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // The flag wins over the file's max_streams.
        let (process, _) = try Self.run(["--config", config, "--ports-file", portsFile, "--max-streams", "2"])
        defer { if process.isRunning { process.terminate() } }
        let ports = try await Self.ports(portsFile, of: process)
        #expect(Set(ports.keys) == ["usdm", "coinm", "admin"])
        #expect(ports["admin"] is NSNull)
        let usdm = try #require(ports["usdm"] as? Int)
        let received = SimFaultTests.Received()
        let task = SimFaultTests.client(usdm, "/ws/btcusdt@ticker", received: received)
        try await TestSupport.eventually("ten tickers") { received.messages.count >= 10 }
        task.cancel()
        // Ticker event times 100 ms apart (the file's ticker: 10), not the default 1 s.
        let times = try received.texts.map { text in
            try #require(((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["E"] as? NSNumber)?.int64Value)
        }
        #expect(Set(zip(times.dropFirst(), times).map { $0 - $1 }) == [100], "\(times)")
        // --max-streams 2 from the flag: a third stream is error 4.
        let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(usdm)/ws", logger: SimProtocolTests.logger) { inbound, outbound, _ in
            try await outbound.write(.text(#"{"method":"SUBSCRIBE","params":["a@aggTrade","b@aggTrade","c@aggTrade"],"id":1}"#))
            var messages = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
            guard case .text(let reply)? = try await messages.next() else { Issue.record("no reply"); return }
            #expect(reply.contains("Too many subscriptions"))
            while try await messages.next() != nil {}
        }
        #expect(close?.closeCode == .policyViolation)
        process.terminate()  // SIGTERM
        #expect(try await Self.wait(process, within: .seconds(5)) == 0)
    }

    /// `--synthetic-symbols` adds tradable USD-M contracts (in exchangeInfo, with streams), and
    /// `--tick` sets the market clock that stamps the events.
    @Test func syntheticSymbolsTradeOnTheConfiguredClock() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-synthetic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let portsFile = directory.appendingPathComponent("ports.json").path
        let (process, _) = try Self.run(["--usdm-port", "0", "--coinm-port", "0", "--ports-file", portsFile, "--symbols", "BTCUSDT",
                                         "--synthetic-symbols", "3", "--tick", "250ms", "--rate", "300"])
        defer { if process.isRunning { process.terminate() } }
        let usdm = try #require(try await Self.ports(portsFile, of: process)["usdm"] as? Int)
        let info = try await SimRESTTests.get(usdm, "/fapi/v1/exchangeInfo")
        let symbols = ((info.json as? [String: Any])?["symbols"] as? [[String: Any]])?.compactMap { $0["symbol"] as? String }
        #expect(symbols == ["BTCUSDT", "X0000USDT", "X0001USDT", "X0002USDT"])
        let received = SimFaultTests.Received()
        let task = SimFaultTests.client(usdm, "/ws/x0002usdt@aggTrade", received: received)
        func eventTimes() -> Set<Int64> {
            Set(received.texts.compactMap { text in
                ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["E"] as? NSNumber
            }.map(\.int64Value))
        }
        try await TestSupport.eventually("trades of three ticks") { eventTimes().count >= 3 }
        task.cancel()
        #expect(received.texts.allSatisfy { $0.contains(#""s":"X0002USDT""#) })
        // Every event carries its tick's scheduled time: 250 ms apart (the default 10 ms
        // clock would spread ~15 trades a tick's worth over 25 ticks).
        let times = eventTimes().sorted()
        #expect(zip(times.dropFirst(), times).allSatisfy { ($0 - $1) % 250 == 0 }, "\(times)")
        process.terminate()
        #expect(try await Self.wait(process, within: .seconds(5)) == 0)
    }

    /// A SIGTERM sent the moment the "listening" line appears still ends the simulator with
    /// status 0. Scripts do exactly this; the signal handling used to be armed only after the
    /// line was printed, and a signal that came first was discarded (hang) or killed it (-15).
    @Test func sigtermRightAfterListeningExitsCleanly() async throws {
        for round in 0..<8 {
            let output = Pipe()
            let (process, _) = try Self.run(["--usdm-port", "0", "--coinm-port", "0", "--seed", "7"], output: output)
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            let reader = output.fileHandleForReading
            // Blocking reads off the test's executor; the suite's time limit bounds them.
            let announced = await Task.detached {
                var text = ""
                while !text.contains("listening") {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                return text.contains("listening")
            }.value
            #expect(announced, "round \(round): no listening line")
            process.terminate()  // SIGTERM, at once
            #expect(try await Self.wait(process, within: .seconds(5)) == 0, "round \(round)")
        }
    }

    /// `--help` documents the flags users script against.
    @Test func helpDocumentsTheInterface() async throws {
        let process = Process()
        process.executableURL = try Self.executable()
        process.arguments = ["--help"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(try await Self.wait(process, within: .seconds(10)) == 0)
        for flag in ["--usdm-port", "--coinm-port", "--admin-port", "--host", "--ports-file", "--seed", "--symbols", "--rate", "--aggregate-rate",
                     "--stream-rate", "--lifetime", "--tick", "--synthetic-symbols", "--ping-interval", "--pong-timeout", "--max-streams", "--max-msgs-per-second",
                     "--silent-wrong-route", "--ground-truth", "--replay", "--tls-cert", "--tls-key", "--config", "SIGTERM"] {
            #expect(text.contains(flag), "--help lacks \(flag)")
        }
    }

    @Test(arguments: [
        (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
        (["--replay", "/nonexistent.jsonl"], "cannot read replay file"),
        (["--admin-port", "70000"], "admin-port must be in 0…65535"),
        (["--replay-speed", "0"], "must be positive"),
        (["--tick", "500us"], "expected a duration"),
        (["--tick", "2s"], "tick: expected 1ms to 1s"),
        (["--synthetic-symbols", "9000"], "synthetic-symbols must be in 0…5000"),
        (["--stream-rate", "markPrice=2"], "fixes its rate in the stream name"),
        (["--stream-rate", "aggTrade"], "expected type=N"),
        (["--stream-rate", "ticker=fast"], "expected a number of messages per second"),
        (["--config", "/nonexistent.yaml"], "nonexistent.yaml"),
    ])
    func badSettingsStopStartUpWithAClearMessage(arguments: [String], message: String) async throws {
        let (process, errors) = try Self.run(["--usdm-port", "0", "--coinm-port", "0"] + arguments)
        let status = try await Self.wait(process, within: .seconds(10))
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0)
        #expect(text.contains(message), "\(text)")
    }
}

import Foundation
import Synchronization
import TestSupport
import Testing

/// Runs the real `binance-bridge` executable (built next to the test bundle) as a child
/// process: start-up validation, connecting to Redis, and clean shutdown on signals.
@Suite("binance-bridge process", .timeLimit(.minutes(2)))
struct BridgeProcessTests {
    /// No exchangeInfo sync, a prefix of its own and HTTP on any free loopback port: a test
    /// never reaches Binance, never restores another test's subscriptions, and never fights
    /// a parallel one for the default port 9464 (seen: the second bridge exited 1 on bind).
    static var offline: [String] {
        ["--instruments-sync-on-start", "false", "--redis-prefix", "test-\(UInt32.random(in: 0...UInt32.max))", "--http-host", "127.0.0.1", "--http-port", "0"]
    }

    @Test func invalidSettingStopsStartUpWithOneLineAndExitCode2() throws {
        let bridge = try BridgeProcess(arguments: ["run", "--redis-maxlen", "abc"])
        let status = try bridge.waitForExit(within: .seconds(20))
        #expect(status == 2)
        let lines = bridge.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(bridge.standardError)")
        #expect(lines.first?.contains("redis.maxlen") == true)
        #expect(lines.first?.contains("abc") == true)
    }

    @Test func invalidEnvironmentValueAlsoExits2() throws {
        let bridge = try BridgeProcess(arguments: ["run"], environment: ["BRIDGE_REDIS_URL": "http://nope"])
        #expect(try bridge.waitForExit(within: .seconds(20)) == 2)
        #expect(bridge.standardError.contains("redis.url"), "stderr: \(bridge.standardError)")
    }

    /// `run` is the default subcommand: `binance-bridge --redis-url …` is `binance-bridge run …`.
    @Test(arguments: [["run"], []])
    func connectsToRedisAndExitsZeroOnSigterm(subcommand: [String]) throws {
        let url = try SharedRedis.urlString()
        let bridge = try BridgeProcess(arguments: subcommand + ["--redis-url", url, "--log-level", "info"] + Self.offline)
        try bridge.waitForOutput("connected to Redis", within: .seconds(30))
        #expect(!bridge.standardError.contains("s3cret"))
        bridge.signal(SIGTERM)
        #expect(try bridge.waitForExit(within: .seconds(15)) == 0)
        #expect(bridge.standardError.contains("binance-bridge stopped"))
    }

    @Test func keepsRetryingWhileRedisIsDownAndStillStopsCleanlyOnSigint() throws {
        let port = RedisServerProcess.freePort()
        let bridge = try BridgeProcess(arguments: ["run", "--redis-url", "redis://127.0.0.1:\(port)/0"] + Self.offline)
        try bridge.waitForOutput("cannot reach Redis", within: .seconds(30))
        let started = ContinuousClock.now
        bridge.signal(SIGINT)
        #expect(try bridge.waitForExit(within: .seconds(15)) == 0)
        #expect(started.duration(to: .now) < .seconds(5))
    }

    @Test func checkConfigPrintsEffectiveSettingsWithTheKeyRedacted() throws {
        let bridge = try BridgeProcess(
            arguments: ["check-config", "--redis-prefix", "desk1"],
            environment: ["BRIDGE_API_KEY": "s3cret-api-key", "BRIDGE_REDIS_MAXLEN": "5000"]
        )
        #expect(try bridge.waitForExit(within: .seconds(20)) == 0)
        let output = bridge.standardOutput
        #expect(output.contains("desk1"), "\(output)")
        #expect(output.contains("5000"))
        #expect(!output.contains("s3cret-api-key"))
        #expect(!bridge.standardError.contains("s3cret-api-key"))
    }
}

/// A `binance-bridge` child process with its output captured.
final class BridgeProcess: Sendable {
    private let process: Process
    /// Captured output, appended from the pipes' reader threads.
    private final class Output: Sendable {
        let text = Mutex((stdout: "", stderr: ""))
    }

    private let output = Output()

    static func executable(_ name: String = "binance-bridge") throws -> URL {
        // The test bundle lives in the build products directory, beside the executables.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestError("\(name) executable not found near \(bundle.path); build with `swift build --build-tests`")
    }

    /// Starts `executable` (default binance-bridge) in `directory` (default: a temporary
    /// directory, so no config file is found there) with only PATH and `environment`.
    init(arguments: [String], environment: [String: String] = [:], executable: String = "binance-bridge", directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = try Self.executable(executable)
        process.arguments = arguments
        // A clean environment: only what the test sets, plus PATH; no config file from the
        // working directory (run from a temporary directory).
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = directory ?? FileManager.default.temporaryDirectory
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let output = self.output
        out.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            output.text.withLock { $0.stdout += text }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            output.text.withLock { $0.stderr += text }
        }
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Whether the process still runs.
    var processIsRunning: Bool { process.isRunning }
    /// Its process id.
    var processIdentifier: Int32 { process.processIdentifier }
    /// Its resident set size in bytes (`VmRSS` of /proc), or nil once it has exited.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kilobytes * 1024
    }
    /// The exit status (once it has exited).
    var exitStatus: Int32 { process.terminationStatus }

    var standardOutput: String { output.text.withLock { $0.stdout } }
    var standardError: String { output.text.withLock { $0.stderr } }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Polls (bounded) until the process exits; returns its exit status.
    func waitForExit(within timeout: Duration) throws -> Int32 {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                throw TestError("binance-bridge did not exit within \(timeout); stderr: \(standardError)")
            }
            usleep(20_000)
        }
        usleep(100_000)  // let the pipes drain the last lines
        return process.terminationStatus
    }

    /// Polls (bounded) until standard error contains `text`.
    func waitForOutput(_ text: String, within timeout: Duration) throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !standardError.contains(text) {
            if ContinuousClock.now > deadline || !process.isRunning {
                throw TestError("no \"\(text)\" from binance-bridge within \(timeout); stderr: \(standardError)")
            }
            usleep(20_000)
        }
    }
}

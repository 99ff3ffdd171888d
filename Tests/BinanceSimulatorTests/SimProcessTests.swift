import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

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

    static func run(_ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
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
        let deadline = ContinuousClock.now + .seconds(10)
        while FileManager.default.contents(atPath: portsFile)?.isEmpty ?? true {
            guard ContinuousClock.now < deadline, process.isRunning else {
                Issue.record("no ports file")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let ports = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: portsFile))) as? [String: Int])
        let admin = try #require(ports["admin"])
        #expect(Set(ports.keys) == ["usdm", "coinm", "admin"])
        let status = try await SimRESTTests.get(admin, "/status")
        #expect((status.json as? [String: Any])?["ports"] as? [String: Int] == ["usdm": ports["usdm"]!, "coinm": ports["coinm"]!])
        // A window a loaded machine still makes its request within (the request is what is
        // tested; 1 s was seen to pass before it was sent).
        let refusing = ContinuousClock.now
        #expect(try await SimFaultTests.post(admin, "/faults/refuse-connections?seconds=3").json["ok"] as? Bool == true)
        // Refusal covers every TCP connection to the market ports, REST included.
        await #expect(throws: (any Error).self) { try await SimRESTTests.get(ports["usdm"]!, "/fapi/v1/ping") }
        try await Task.sleep(until: refusing + .milliseconds(3_100))
        #expect(try await SimRESTTests.get(ports["usdm"]!, "/fapi/v1/ping").status == 200)
        process.interrupt()  // SIGINT
        #expect(try await Self.wait(process, within: .seconds(5)) == 0)
        #expect(FileManager.default.fileExists(atPath: truth))
    }

    @Test(arguments: [
        (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
        (["--replay", "/nonexistent.jsonl"], "cannot read replay file"),
        (["--admin-port", "70000"], "admin-port must be in 0…65535"),
        (["--replay-speed", "0"], "must be positive"),
    ])
    func badSettingsStopStartUpWithAClearMessage(arguments: [String], message: String) async throws {
        let (process, errors) = try Self.run(["--usdm-port", "0", "--coinm-port", "0"] + arguments)
        let status = try await Self.wait(process, within: .seconds(10))
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0)
        #expect(text.contains(message), "\(text)")
    }
}

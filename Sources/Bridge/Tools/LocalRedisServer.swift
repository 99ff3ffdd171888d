import Foundation
import RedisClient

/// A throwaway `redis-server` child for `binance-bridge demo` when no Redis answers: on a free
/// loopback port, persistence off, in a temporary directory; stopped (by its PID) on `stop()`.
public final class LocalRedisServer: Sendable {
    public let port: Int
    public let pid: Int32
    private let process: Process
    private let directory: URL

    /// Starts `redis-server` (found on `PATH`) and waits (at most 5 s) until it answers.
    public static func start() async throws -> LocalRedisServer {
        guard let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first(where: FileManager.default.isExecutableFile(atPath:))
            ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map({ "\($0)/redis-server" }).first(where: FileManager.default.isExecutableFile(atPath:))
        else { throw LocalRedisError("redis-server not found: install it (apt-get install redis-server) or set BRIDGE_REDIS_URL") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("binance-bridge-demo-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = LocalRedisServer(port: port, process: process, directory: directory)
        let connection = RedisConnection(configuration: RedisConnectionConfiguration(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), connectTimeout: .milliseconds(200)))
        defer { Task { await connection.close() } }
        for _ in 0..<50 {
            if (try? await connection.send("PING")) != nil { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        await server.stop()
        throw LocalRedisError("redis-server on 127.0.0.1:\(port) did not answer within 5 s")
    }

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.pid = process.processIdentifier
        self.directory = directory
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// SIGTERM to the child, wait (at most 5 s, then SIGKILL) until it is gone and reaped,
    /// remove its directory. Reaps with `waitpid` itself: `Process.waitUntilExit()` was seen
    /// spinning a thread forever when called from an async context on Linux, and a child
    /// left unreaped stays a zombie where PID 1 does not reap (containers).
    public func stop() async {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result == -1 && errno == ECHILD) { break }  // reaped (here or by Foundation)
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

public struct LocalRedisError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port free on 127.0.0.1 right now (bound to 0, read, closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LocalRedisError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw LocalRedisError("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

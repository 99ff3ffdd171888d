import Foundation
import Synchronization
public import RedisClient

/// A throwaway `redis-server` child process on 127.0.0.1 with persistence off, for tests that
/// need to stop, restart or configure their own server. Ends only the process it started.
public final class RedisServerProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched from the test that owns this object, serially.
    public let port: Int
    let extraArguments: [String]
    let directory: URL
    private var process: Process?

    /// A free TCP port on loopback (bind to port 0, read it, release it).
    public static func freePort() -> Int {
        // Below the kernel's ephemeral range (32768–60999 on Linux): a port-0 listener of a
        // parallel test can never be handed this port while a test restarts its server on it
        // (seen: a restarted "Redis" that answered "HTTP/1.1").
        // Never the same port twice in this process: tests pick ports side by side, and two
        // random picks would otherwise collide (the kernel's port 0 never hands out a port
        // that is bound, but a picked port is free until its user binds it).
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            if handedOut.withLock({ $0.insert(port).inserted }), bindable(port) { return port }
        }
        return ephemeralPort()
    }

    /// Ports ``freePort()`` has returned.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether nothing listens on `port` of 127.0.0.1 (a bind succeeds).
    static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
    }

    /// A port the kernel picks (bind to port 0).
    static func ephemeralPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The `redis-server` binary on PATH (tests fail with a clear message when it is missing).
    static func serverBinary() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestError("redis-server is not installed: run scripts/test.sh, which installs it")
    }

    public init(port: Int = RedisServerProcess.freePort(), arguments: [String] = []) throws {
        self.port = port
        self.extraArguments = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public var url: RedisURL { RedisURL(address: .tcp(host: "127.0.0.1", port: port)) }

    public func configuration(password: String? = nil, user: String? = nil, commandTimeout: Duration = .seconds(5)) -> RedisConnectionConfiguration {
        var url = url
        url.password = password
        url.user = user
        return RedisConnectionConfiguration(url: url, connectTimeout: .seconds(2), commandTimeout: commandTimeout)
    }

    /// Starts the server and waits (bounded) until it accepts connections.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.serverBinary())
        process.arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if Self.canConnect(port: port) {
                // Something listens: make sure it is this server, not a stranger on the port.
                guard process.isRunning, Self.answersLikeRedis(port: port) else {
                    throw TestError("port \(port) is taken by another process; redis-server did not start there")
                }
                return
            }
            usleep(25_000)
        }
        throw TestError("redis-server on port \(port) did not start within 5 s")
    }

    /// The running server's PID.
    public var processIdentifier: pid_t? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }

    /// Kills the server (SIGKILL by default: an abrupt crash) and waits for it to exit.
    public func stop(signal: Int32 = SIGKILL) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
    }

    /// Sends `signal` without waiting (SIGSTOP / SIGCONT: a server that stops answering and
    /// comes back with its data).
    public func send(signal: Int32) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGCONT) }
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether the listener on `port` answers `PING` with a RESP reply (`+PONG`, or `-NOAUTH`
    /// when a password is set): a Redis, not another server.
    private static func answersLikeRedis(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, toLoopback: port) else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var first: UInt8 = 0
        return read(fd, &first, 1) == 1 && (first == UInt8(ascii: "+") || first == UInt8(ascii: "-"))
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return connect(fd, toLoopback: port)
    }

    /// 127.0.0.1:`port`.
    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Connects `fd` to 127.0.0.1:`port`; whether it succeeded.
    private static func connect(_ fd: Int32, toLoopback port: Int) -> Bool {
        var address = loopback(port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

public struct TestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The shared Redis for tests that only need *a* server: the one `scripts/test.sh` started
/// (`BRIDGE_TEST_REDIS_URL`), or else one started here for this test process.
public enum SharedRedis {
    private static let fallback: Result<RedisServerProcess, any Error> = Result {
        let server = try RedisServerProcess()
        try server.start()
        // A static is never deinitialised: without this, every plain `swift test` run (no
        // BRIDGE_TEST_REDIS_URL) left its server running after the test process exited.
        fallbackPid = server.processIdentifier ?? 0
        atexit { if SharedRedis.fallbackPid > 0 { kill(SharedRedis.fallbackPid, SIGKILL) } }
        return server
    }

    /// The fallback server's PID, for the exit handler (which cannot capture).
    nonisolated(unsafe) private static var fallbackPid: pid_t = 0

    public static func configuration(commandTimeout: Duration = .seconds(10)) throws -> RedisConnectionConfiguration {
        if let text = ProcessInfo.processInfo.environment["BRIDGE_TEST_REDIS_URL"], !text.isEmpty {
            return RedisConnectionConfiguration(url: try RedisURL(parsing: text), commandTimeout: commandTimeout)
        }
        var configuration = try fallback.get().configuration()
        configuration.commandTimeout = commandTimeout
        return configuration
    }

    /// The shared server's URL as text (for the executable's `--redis-url`).
    public static func urlString() throws -> String {
        if let text = ProcessInfo.processInfo.environment["BRIDGE_TEST_REDIS_URL"], !text.isEmpty { return text }
        return "\(try configuration().url)"
    }

    /// A key no other test uses.
    public static func uniqueKey(_ name: String) -> String { "test:\(name):\(UUID().uuidString)" }
}

/// Waits for the next event, failing after `timeout` instead of hanging the suite.
public func next(
    _ iterator: inout RedisSubscriber.AsyncIterator,
    within timeout: Duration = .seconds(10)
) async throws -> RedisSubscriberEvent {
    let box = IteratorBox(iterator)
    let event = try await withThrowingTaskGroup(of: RedisSubscriberEvent?.self) { group in
        group.addTask { await box.next() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestError("no subscriber event within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
    guard let event else { throw TestError("the subscriber sequence ended") }
    iterator = box.iterator
    return event
}

private final class IteratorBox: @unchecked Sendable {
    // @unchecked: used by one child task at a time, then read after the group finishes.
    var iterator: RedisSubscriber.AsyncIterator
    init(_ iterator: RedisSubscriber.AsyncIterator) { self.iterator = iterator }
    func next() async -> RedisSubscriberEvent? { await iterator.next() }
}

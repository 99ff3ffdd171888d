import Foundation
import RedisClient

/// A throwaway `redis-server` child for `binance-bridge demo` when no Redis answers: on a free
/// loopback port, persistence off, in a temporary directory; stopped on `stop()`, and also when
/// the demo dies without stopping it (SIGKILL, a crash).
///
/// The server runs under a small `sh` supervisor whose standard input is a pipe from this
/// process: when the pipe closes — `stop()`, or the kernel closing every descriptor of a
/// killed process — `read` returns, and the supervisor stops the server and reaps it.
/// (`PR_SET_PDEATHSIG` was not used: it fires when the *thread* that spawned the child exits,
/// and the Swift runtime's pool threads come and go.) The supervisor is started with
/// `posix_spawn` directly, with every signal at its default and none blocked: a shell that
/// inherits this process's ignored SIGTERM cannot undo it, and `Foundation.Process` passes
/// dispositions and descriptors on.
public final class LocalRedisServer: Sendable {
    public let port: Int
    /// The `redis-server` process (read from its `INFO server`).
    public let pid: Int32
    /// The supervising `sh`, our child.
    private let supervisor: pid_t
    /// The write end of its standard input; closing it stops the server.
    private let lifeline: Int32
    private let directory: URL

    /// Starts `redis-server` (found on `PATH`) and waits (at most 5 s) until it answers.
    public static func start() async throws -> LocalRedisServer {
        guard let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first(where: FileManager.default.isExecutableFile(atPath:))
            ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map({ "\($0)/redis-server" }).first(where: FileManager.default.isExecutableFile(atPath:))
        else { throw LocalRedisError("redis-server not found: install it (apt-get install redis-server) or set BRIDGE_REDIS_URL") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("binance-bridge-demo-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path]
        // $0 is the binary, "$@" its arguments; `read` returns at EOF on the pipe.
        let script = #""$0" "$@" & server=$!; read -r _; kill "$server" 2>/dev/null; wait "$server""#
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw LocalRedisError("pipe failed: errno \(errno)") }
        // Close-on-exec: nothing spawned later inherits the lifeline (the dup on fd 0 stays).
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let supervisor: pid_t
        do {
            supervisor = try spawn("/bin/sh", ["sh", "-c", script, binary] + arguments, standardInput: ends[0])
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[0])  // the supervisor holds its own copy
        let connection = RedisConnection(configuration: RedisConnectionConfiguration(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), connectTimeout: .milliseconds(200)))
        defer { Task { await connection.close() } }
        for _ in 0..<50 {
            if let info = (try? await connection.send("INFO", "server"))?.string,
                let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
                let pid = Int32(line.dropFirst("process_id:".count))
            {
                return LocalRedisServer(port: port, pid: pid, supervisor: supervisor, lifeline: ends[1], directory: directory)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await Self.stop(supervisor: supervisor, lifeline: ends[1], directory: directory)
        throw LocalRedisError("redis-server on 127.0.0.1:\(port) did not answer within 5 s")
    }

    private init(port: Int, pid: Int32, supervisor: pid_t, lifeline: Int32, directory: URL) {
        self.port = port
        self.pid = pid
        self.supervisor = supervisor
        self.lifeline = lifeline
        self.directory = directory
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Closes the lifeline (the supervisor stops the server with SIGTERM and reaps it), waits
    /// (at most 5 s, then SIGKILL to both) until the supervisor is gone and reaped, removes the
    /// directory.
    public func stop() async {
        await Self.stop(supervisor: supervisor, lifeline: lifeline, directory: directory, server: pid)
    }

    /// Reaps with `waitpid`: a child left unreaped stays a zombie where PID 1 does not reap
    /// (containers).
    private static func stop(supervisor: pid_t, lifeline: Int32, directory: URL, server: Int32? = nil) async {
        close(lifeline)
        let deadline = ContinuousClock.now + .seconds(5)
        var status: Int32 = 0
        while true {
            let result = waitpid(supervisor, &status, WNOHANG)
            if result == supervisor || (result == -1 && errno == ECHILD) { break }
            if ContinuousClock.now >= deadline {
                if let server { kill(server, SIGKILL) }
                kill(supervisor, SIGKILL)
                _ = waitpid(supervisor, &status, 0)
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// `posix_spawn` of `path` with `standardInput` as fd 0, /dev/null as 1 and 2, no other
    /// descriptor (where glibc can close them: 2.34+), every signal at its default disposition
    /// and an empty signal mask.
    private static func spawn(_ path: String, _ arguments: [String], standardInput: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        if let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in Int32(1)..<32 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw LocalRedisError("cannot start \(path): errno \(result)") }
        return pid
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

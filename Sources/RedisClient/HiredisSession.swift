#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CHiredis

/// One open hiredis connection, confined to the thread that created it.
///
/// hiredis is used for what it does well — connecting (name resolution, `TCP_NODELAY`,
/// keepalive) and parsing RESP into reply trees — while this type drives the socket itself:
/// after the handshake the socket is switched to non-blocking mode and every wait is a
/// `poll` on the socket *and* a ``WakeSignal``, so cancellation and shutdown interrupt a
/// blocked call at once, and a large pipeline is written while its replies are read (no
/// deadlock on full socket buffers, no quadratic `sdsrange` on a huge output buffer).
///
/// Not `Sendable`: `redisContext` is not thread-safe. The owning thread creates, uses and
/// frees it (`deinit`).
final class HiredisSession {
    private let context: UnsafeMutablePointer<redisContext>

    /// The connected socket.
    var fileDescriptor: Int32 { context.pointee.fd }

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit {
        redisFree(context)
    }

    // MARK: Connecting

    /// Connects and performs the handshake (`AUTH`, `SELECT`, `CLIENT SETNAME`, `PING`).
    ///
    /// The TCP/Unix connect blocks this thread for at most `connectTimeout` (hiredis tries
    /// every resolved address in turn, so `localhost` works whether the server listens on
    /// IPv4 or IPv6); the handshake is interruptible through `wake`.
    static func connect(
        _ configuration: RedisConnectionConfiguration,
        wake: WakeSignal,
        interrupted: () -> RedisClientError?
    ) throws(RedisClientError) -> HiredisSession {
        let timeout = timeval(configuration.connectTimeout)
        let url = configuration.url
        let maybeContext: UnsafeMutablePointer<redisContext>?
        switch url.address {
        case .tcp(let host, let port):
            maybeContext = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path):
            maybeContext = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let context = maybeContext else {
            throw RedisClientError(code: .connectionFailed, message: "cannot connect to \(url): out of memory")
        }
        let session = HiredisSession(context: context)
        if context.pointee.err != 0 {
            let reason = session.errorText
            let timedOut = reason.contains("timed out") || reason.contains("Resource temporarily unavailable")
            throw RedisClientError(
                code: timedOut ? .timeout : .connectionFailed,
                message: "cannot connect to \(url): \(reason)"
            )
        }
        if configuration.tcpKeepAlive, case .tcp = url.address {
            _ = redisEnableKeepAlive(context)
        }
        // From here on this type drives the socket: non-blocking, and hiredis must not treat
        // EAGAIN as an error (it only tolerates it without REDIS_BLOCK).
        let fd = context.pointee.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        context.pointee.flags &= ~Int32(REDIS_BLOCK)

        try session.handshake(configuration, wake: wake, interrupted: interrupted)
        return session
    }

    private func handshake(
        _ configuration: RedisConnectionConfiguration,
        wake: WakeSignal,
        interrupted: () -> RedisClientError?
    ) throws(RedisClientError) {
        let url = configuration.url
        var batch = RedisCommandBatch(reservingCapacity: 256)
        var steps: [String] = []
        if let password = url.password {
            if let user = url.user { batch.append(["AUTH", user, password]) } else { batch.append(["AUTH", password]) }
            steps.append("AUTH")
        }
        if url.database != 0 {
            batch.append(["SELECT", String(url.database)])
            steps.append("SELECT \(url.database)")
        }
        if let name = configuration.clientName {
            batch.append(["CLIENT", "SETNAME", name])
            steps.append("CLIENT SETNAME")
        }
        // PING last: proves the server speaks RESP and surfaces NOAUTH at connect time
        // instead of on the first real command.
        batch.append(["PING"])
        steps.append("PING")

        var failure: RedisClientError?
        try execute(batch, timeout: configuration.connectTimeout, wake: wake, interrupted: interrupted) { index, reply in
            guard failure == nil, reply.pointee.type == REDIS_REPLY_ERROR else { return }
            let server = RedisClientError(serverReply: RedisReply(hiredis: reply).errorMessage ?? "")
            let code = server.serverErrorCode ?? "ERR"
            let isAuth = steps[index] == "AUTH" || code == "NOAUTH" || code == "WRONGPASS"
            let hint =
                code == "NOAUTH"
                ? "the server requires authentication: put the password in the Redis URL (redis://:password@host:port)"
                : "\(steps[index]) failed"
            failure = RedisClientError(
                code: isAuth ? .authenticationFailed : .serverError,
                message: "\(url): \(hint): \(server.message)",
                serverErrorCode: code
            )
        }
        if let failure { throw failure }
    }

    // MARK: Pipelined I/O

    /// Writes `bytes` and reads `replyCount` replies, interleaving both so neither side's
    /// socket buffer can fill up and stall the other. `onReply` sees each reply in order
    /// (index, hiredis reply); the reply is freed when it returns.
    ///
    /// Throws on I/O errors, EOF, protocol errors, when nothing moved for `timeout`, or when
    /// `interrupted` reports cancellation/shutdown after `wake` fired. After a throw the
    /// session must be discarded: the stream position is unknown.
    func execute(
        _ batch: RedisCommandBatch,
        replyCount: Int? = nil,
        timeout: Duration,
        wake: WakeSignal,
        interrupted: () -> RedisClientError?,
        onReply: (Int, UnsafePointer<redisReply>) -> Void
    ) throws(RedisClientError) {
        let outcome = batch.withUnsafeBytes { bytes in
            Result { () throws(RedisClientError) in
                try execute(bytes, replyCount: replyCount ?? batch.count, timeout: timeout, wake: wake, interrupted: interrupted, onReply: onReply)
            }
        }
        try outcome.get()
    }

    private func execute(
        _ bytes: UnsafeRawBufferPointer,
        replyCount: Int,
        timeout: Duration,
        wake: WakeSignal,
        interrupted: () -> RedisClientError?,
        onReply: (Int, UnsafePointer<redisReply>) -> Void
    ) throws(RedisClientError) {
        var written = 0
        var received = 0
        var lastProgress = ContinuousClock.now
        let total = bytes.count
        while true {
            // Replies already parsed need no syscall.
            while received < replyCount, let reply = try nextReply() {
                onReply(received, reply)
                freeReplyObject(UnsafeMutableRawPointer(mutating: reply))
                received += 1
            }
            if received == replyCount && written == total { return }

            let events = try waitForSocket(
                wantWrite: written < total,
                deadline: lastProgress.advanced(by: timeout),
                wake: wake,
                interrupted: interrupted
            )
            if events.contains(.writable) && written < total {
                // send + MSG_NOSIGNAL, not write: writing to a connection the server reset
                // must fail with EPIPE, not raise SIGPIPE and kill the process.
                let count = send(fileDescriptor, bytes.baseAddress! + written, min(total - written, 1 << 22), Int32(MSG_NOSIGNAL))
                if count > 0 {
                    written += count
                    lastProgress = .now
                } else if count < 0 && errno != EAGAIN && errno != EINTR {
                    throw RedisClientError(code: .io, message: "write to Redis failed: \(String(cString: strerror(errno)))")
                }
            }
            if events.contains(.readable) {
                try readAvailable()
                lastProgress = .now
            }
        }
    }

    /// Appends `bytes` to the socket without waiting for replies (used for `PING` on a
    /// subscribed connection).
    func writeAll(_ batch: RedisCommandBatch, timeout: Duration, wake: WakeSignal, interrupted: () -> RedisClientError?) throws(RedisClientError) {
        try execute(batch, replyCount: 0, timeout: timeout, wake: wake, interrupted: interrupted) { _, _ in }
    }

    /// Reads what the socket has into hiredis's reader. Throws on EOF or I/O error.
    func readAvailable() throws(RedisClientError) {
        if redisBufferRead(context) != REDIS_OK {
            throw contextError()
        }
    }

    /// The next complete reply in the reader's buffer, if any. The caller frees it.
    func nextReply() throws(RedisClientError) -> UnsafePointer<redisReply>? {
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &raw) != REDIS_OK {
            throw contextError()
        }
        return raw.map { UnsafePointer($0.assumingMemoryBound(to: redisReply.self)) }
    }

    // MARK: Waiting

    struct SocketEvents: OptionSet {
        let rawValue: UInt8
        static let readable = SocketEvents(rawValue: 1)
        static let writable = SocketEvents(rawValue: 2)
        static let woken = SocketEvents(rawValue: 4)
    }

    /// Polls the socket and the wake signal until one is ready or `deadline` passes.
    ///
    /// A wake-up drains the signal and asks `interrupted` whether to stop; if not, the wait
    /// returns `.woken` alone and the caller loops (a new job in the queue also wakes us).
    func waitForSocket(
        wantWrite: Bool,
        deadline: ContinuousClock.Instant?,
        wake: WakeSignal,
        interrupted: () -> RedisClientError?
    ) throws(RedisClientError) -> SocketEvents {
        while true {
            var fds = [
                pollfd(fd: fileDescriptor, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0),
                pollfd(fd: wake.fileDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            var timeoutMs: Int32 = -1
            if let deadline {
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero {
                    throw RedisClientError(code: .timeout, message: "Redis made no progress within the timeout")
                }
                timeoutMs = Int32(clamping: remaining.milliseconds + 1)
            }
            let ready = poll(&fds, 2, timeoutMs)
            if ready < 0 {
                if errno == EINTR { continue }
                throw RedisClientError(code: .io, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            var events: SocketEvents = []
            if fds[1].revents != 0 {
                wake.drain()
                if let error = interrupted() { throw error }
                events.insert(.woken)
            }
            let socketEvents = fds[0].revents
            if socketEvents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { events.insert(.readable) }
            if socketEvents & Int16(POLLOUT) != 0 { events.insert(.writable) }
            if !events.isEmpty { return events }
            // Timed out: loop to throw with the deadline check above.
        }
    }

    // MARK: Errors

    private var errorText: String {
        withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private func contextError() -> RedisClientError {
        switch context.pointee.err {
        case REDIS_ERR_EOF:
            RedisClientError(code: .connectionClosed, message: "Redis closed the connection")
        case REDIS_ERR_PROTOCOL:
            RedisClientError(code: .protocolError, message: "Redis protocol error: \(errorText)")
        default:
            RedisClientError(code: .io, message: "Redis I/O error: \(errorText)")
        }
    }
}

// MARK: - Helpers

extension Duration {
    /// Whole milliseconds, rounded down, for `poll`.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}

import CHiredis
import Synchronization

/// A Redis connection for commands and pipelines, driven by its own thread.
///
/// Every hiredis call happens on a dedicated OS thread (never on Swift's cooperative pool or
/// a NIO event loop); async callers enqueue a job and suspend until the thread resumes them.
/// Jobs run one at a time in submission order, so replies keep command order across callers.
///
/// The connection is established lazily and re-established on demand: after a failure
/// (refused, closed, timed out, cancelled) the broken socket is dropped and the next job
/// reconnects once, failing fast with a clear error if Redis is still away. Callers own their
/// retry policy (the publisher buffers; a control reply may be dropped with a metric).
///
/// Cancelling the calling task interrupts its job at once: the socket is closed (its state
/// is unknown mid-pipeline) and the call throws ``RedisClientError/Code/cancelled``.
/// ``close()`` fails queued jobs with ``RedisClientError/Code/shutdown`` and stops the thread.
///
/// The thread is also a `TaskExecutor` (``executor``): a task that prefers it runs between
/// the connection's jobs on that thread, so its `await`s on this connection resume without a
/// switch to another thread (the publisher's writer runs so: one switch per batch fewer each
/// way, and on a 2-core VM a wake-up of another thread costs more than the batch's XADDs).
public final class RedisConnection: Sendable {
    private let core: Core

    /// The settings this connection uses.
    public var configuration: RedisConnectionConfiguration { core.configuration }

    /// The connection's thread as an executor, for `withTaskExecutorPreference`. Work
    /// enqueued once the connection is closed runs on the global executor instead.
    public var executor: any TaskExecutor { core }

    /// Creates the connection and starts its thread; connects on first use (or ``connect()``).
    public init(configuration: RedisConnectionConfiguration) {
        core = Core(configuration: configuration)
        let core = core
        _ = DedicatedThread(name: "redis-conn") { core.run() }
    }

    /// Closes the socket and stops the thread when the last reference goes away.
    deinit {
        core.shutdown()
    }

    // MARK: Commands

    /// Connects now (if not connected) so start-up can report Redis problems early.
    public func connect() async throws(RedisClientError) {
        _ = try await submit(RedisCommandBatch("PING"), mode: .replies)
    }

    /// Sends one command and returns its reply; an error reply is thrown as a
    /// ``RedisClientError`` with ``RedisClientError/isServerError`` true.
    @discardableResult
    public func send(_ arguments: String...) async throws(RedisClientError) -> RedisReply {
        try await send(arguments)
    }

    /// Sends one command given as an array of arguments.
    @discardableResult
    public func send(_ arguments: [String]) async throws(RedisClientError) -> RedisReply {
        var batch = RedisCommandBatch(reservingCapacity: 64)
        batch.append(arguments)
        guard case .replies(let replies) = try await submit(batch, mode: .replies), let reply = replies.first else {
            throw RedisClientError(code: .protocolError, message: "no reply")
        }
        return try reply.throwingServerError()
    }

    /// Sends every command of `batch` in one write and returns one reply per command, in
    /// order. Error replies stay in place (``RedisReply/error(_:)``); only transport failures
    /// throw, in which case it is unknown which commands ran.
    public func pipeline(_ batch: RedisCommandBatch) async throws(RedisClientError) -> [RedisReply] {
        if batch.isEmpty { return [] }
        guard case .replies(let replies) = try await submit(batch, mode: .replies) else { return [] }
        return replies
    }

    /// Like ``pipeline(_:)`` but keeps only the failures: no reply is copied into Swift for a
    /// command that succeeded. The fast path for batched `XADD`s.
    public func execute(_ batch: RedisCommandBatch) async throws(RedisClientError) -> RedisPipelineSummary {
        if batch.isEmpty { return RedisPipelineSummary(count: 0, failures: []) }
        guard case .summary(let summary) = try await submit(batch, mode: .summary) else {
            return RedisPipelineSummary(count: 0, failures: [])
        }
        return summary
    }

    /// Fails queued work with ``RedisClientError/Code/shutdown``, interrupts the running job,
    /// closes the socket and stops the thread. Returns once the thread has finished.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            core.shutdown(onStopped: continuation)
        }
    }

    // MARK: Job submission

    private func submit(_ batch: RedisCommandBatch, mode: Job.Mode) async throws(RedisClientError) -> Job.Outcome {
        let id = core.nextJobID()
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Job.Outcome, any Error>) in
                    core.enqueue(Job(id: id, batch: batch, mode: mode, continuation: continuation))
                    // The handler below may have run before the job was queued; re-check so
                    // a cancelled caller never waits for its job.
                    if Task.isCancelled { core.cancel(id) }
                }
            } onCancel: {
                core.cancel(id)
            }
        } catch let error as RedisClientError {
            throw error
        } catch {
            throw RedisClientError(code: .io, message: "\(error)")
        }
    }
}

// MARK: - Internals

/// One unit of work for the connection thread.
struct Job: Sendable {
    enum Mode: Sendable { case replies, summary }
    enum Outcome: Sendable {
        case replies([RedisReply])
        case summary(RedisPipelineSummary)
    }

    let id: UInt64
    let batch: RedisCommandBatch
    let mode: Mode
    let continuation: CheckedContinuation<Outcome, any Error>
}

extension RedisConnection {
    /// The state shared between async callers and the connection thread.
    final class Core: TaskExecutor, Sendable {
        let configuration: RedisConnectionConfiguration
        private let wake = WakeSignal()
        private let state = Mutex(State())

        private struct State: ~Copyable {
            var queue: [Job] = []
            /// Swift jobs of tasks that prefer this thread (see ``RedisConnection/executor``).
            var tasks: [UnownedJob] = []
            var runningID: UInt64?
            var runningCancelled = false
            var closed = false
            var nextID: UInt64 = 1
            var stopWaiters: [CheckedContinuation<Void, Never>] = []
            var stopped = false
        }

        init(configuration: RedisConnectionConfiguration) {
            self.configuration = configuration
        }

        // MARK: Executor

        func enqueue(_ job: consuming ExecutorJob) {
            let unowned = UnownedJob(job)
            let accepted = state.withLock { state -> Bool in
                if state.stopped { return false }
                state.tasks.append(unowned)
                return true
            }
            if accepted {
                wake.signal()
            } else {
                // The thread is gone: the task must still run (to its end, e.g. a shutdown).
                globalConcurrentExecutor.enqueue(unowned)
            }
        }

        /// Runs the Swift jobs waiting for this thread; returns whether there were any.
        private func runTasks() -> Bool {
            let tasks = state.withLock { state -> [UnownedJob] in
                defer { state.tasks.removeAll(keepingCapacity: true) }
                return state.tasks
            }
            for task in tasks { task.runSynchronously(on: asUnownedTaskExecutor()) }
            return !tasks.isEmpty
        }

        func nextJobID() -> UInt64 {
            state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
        }

        func enqueue(_ job: Job) {
            let rejected: Job? = state.withLock { state in
                if state.closed { return job }
                state.queue.append(job)
                return nil
            }
            if let rejected {
                rejected.continuation.resume(throwing: RedisClientError(code: .shutdown, message: "the Redis connection is closed"))
            } else {
                wake.signal()
            }
        }

        func cancel(_ id: UInt64) {
            let removed: Job? = state.withLock { state in
                if let index = state.queue.firstIndex(where: { $0.id == id }) {
                    return state.queue.remove(at: index)
                }
                if state.runningID == id { state.runningCancelled = true }
                return nil
            }
            if let removed {
                removed.continuation.resume(throwing: RedisClientError(code: .cancelled, message: "the command was cancelled"))
            } else {
                wake.signal()
            }
        }

        func shutdown(onStopped waiter: CheckedContinuation<Void, Never>? = nil) {
            let alreadyStopped = state.withLock { state in
                state.closed = true
                if state.stopped { return true }
                if let waiter { state.stopWaiters.append(waiter) }
                return false
            }
            if alreadyStopped { waiter?.resume() }
            wake.signal()
        }

        /// Why the running job must stop, if it must (read after a wake-up).
        private func interruption() -> RedisClientError? {
            state.withLock { state in
                if state.closed { return RedisClientError(code: .shutdown, message: "the Redis connection was closed") }
                if state.runningCancelled { return RedisClientError(code: .cancelled, message: "the command was cancelled") }
                return nil
            }
        }

        // MARK: Thread loop

        private enum Step {
            case run(Job)
            case idle
            /// Tasks were enqueued meanwhile: run them before waiting.
            case tasks
            case exit([Job])
        }

        /// The connection thread's body: runs jobs in order; while idle, watches the socket so
        /// a server-side close is noticed (and the socket dropped) before the next job.
        func run() {
            var session: HiredisSession?
            while true {
                // Tasks first: they are short, and their next command joins the queue.
                while runTasks() {}
                let step: Step = state.withLock { state in
                    if state.closed {
                        let pending = state.queue
                        state.queue.removeAll()
                        return .exit(pending)
                    }
                    if state.queue.isEmpty { return state.tasks.isEmpty ? .idle : .tasks }
                    let job = state.queue.removeFirst()
                    state.runningID = job.id
                    state.runningCancelled = false
                    return .run(job)
                }
                switch step {
                case .exit(let pending):
                    session = nil
                    for job in pending {
                        job.continuation.resume(throwing: RedisClientError(code: .shutdown, message: "the Redis connection was closed"))
                    }
                    let (waiters, tasks) = state.withLock { state in
                        state.stopped = true
                        defer {
                            state.stopWaiters.removeAll()
                            state.tasks.removeAll()
                        }
                        return (state.stopWaiters, state.tasks)
                    }
                    // Tasks that came after the last look run elsewhere (as later ones do).
                    for task in tasks { globalConcurrentExecutor.enqueue(task) }
                    for waiter in waiters { waiter.resume() }
                    return
                case .tasks:
                    continue
                case .idle:
                    session = waitIdle(session)
                case .run(let job):
                    let result = perform(job, session: &session)
                    state.withLock { state in
                        state.runningID = nil
                        state.runningCancelled = false
                    }
                    job.continuation.resume(with: result)
                }
            }
        }

        /// Blocks until woken; returns nil if the idle socket closed or misbehaved.
        private func waitIdle(_ session: HiredisSession?) -> HiredisSession? {
            guard let session else {
                wake.wait(timeout: nil)
                return nil
            }
            do {
                let events = try session.waitForSocket(wantWrite: false, deadline: nil, wake: wake) { nil }
                if events.contains(.readable) {
                    try session.readAvailable()
                    // A request/response connection receives nothing unasked.
                    if try session.nextReply() != nil {
                        return nil
                    }
                }
                return session
            } catch {
                return nil
            }
        }

        private func perform(_ job: Job, session: inout HiredisSession?) -> Result<Job.Outcome, any Error> {
            if let error = interruption() { return .failure(error) }
            do {
                if session == nil {
                    session = try HiredisSession.connect(configuration, wake: wake, interrupted: interruption)
                }
                guard let connected = session else { throw RedisClientError(code: .connectionFailed, message: "not connected") }
                let batch = job.batch
                switch job.mode {
                case .replies:
                    var replies: [RedisReply] = []
                    replies.reserveCapacity(batch.count)
                    try connected.execute(batch, timeout: configuration.commandTimeout, wake: wake, interrupted: interruption) { _, reply in
                        replies.append(RedisReply(hiredis: reply))
                    }
                    return .success(.replies(replies))
                case .summary:
                    var failures: [RedisPipelineSummary.Failure] = []
                    try connected.execute(batch, timeout: configuration.commandTimeout, wake: wake, interrupted: interruption) { index, reply in
                        if reply.pointee.type == REDIS_REPLY_ERROR {
                            let text = RedisReply(hiredis: reply).errorMessage ?? ""
                            failures.append(.init(index: index, error: RedisClientError(serverReply: text)))
                        }
                    }
                    return .success(.summary(RedisPipelineSummary(count: batch.count, failures: failures)))
                }
            } catch {
                // Mid-batch failure: the stream position is unknown, so the socket goes.
                session = nil
                return .failure(error)
            }
        }
    }
}

/// Runs `body` with a connection that is closed when `body` returns or throws.
@discardableResult
public func withRedisConnection<Result: Sendable>(
    _ configuration: RedisConnectionConfiguration,
    _ body: (RedisConnection) async throws -> Result
) async throws -> Result {
    let connection = RedisConnection(configuration: configuration)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

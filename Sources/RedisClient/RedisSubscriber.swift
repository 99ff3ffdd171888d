import CHiredis
import Synchronization

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published on.
    public var channel: String
    /// The payload, exactly as published (binary-safe).
    public var payload: [UInt8]

    public init(channel: String, payload: [UInt8]) {
        self.channel = channel
        self.payload = payload
    }
}

/// What a ``RedisSubscriber`` yields: messages, and every change of its connection so an
/// outage is never silent.
public enum RedisSubscriberEvent: Sendable, Equatable {
    /// The first subscription is in place (all channels confirmed).
    case subscribed(channels: [String])
    /// A published message.
    case message(RedisPubSubMessage)
    /// The connection failed or could not be established; messages published from now until
    /// the matching ``reconnected(outage:)`` are lost (pub/sub has no replay). Sent once per
    /// outage, with the first error.
    case disconnected(RedisClientError)
    /// Subscribed again after an outage that lasted `outage`.
    case reconnected(outage: Duration)
}

/// A pub/sub subscriber on its own connection and thread that survives Redis restarts.
///
/// It subscribes to a fixed set of channels, reconnects with ``RedisReconnectPolicy`` after
/// any failure, resubscribes, and reports the outage as events. A `PING` is sent after
/// `healthCheckInterval` of silence; no answer within the command timeout counts as a dead
/// connection (a half-open TCP connection would otherwise look like a quiet channel).
///
/// Iterate it from one task. Events wait in a bounded buffer (`bufferCapacity`); when it is
/// full, the subscriber stops reading the socket — backpressure, so Redis buffers for us and,
/// past its `client-output-buffer-limit` for pub/sub, disconnects us, which is reported as an
/// outage. Nothing is dropped silently; ``bufferFullCount`` counts the stalls.
///
/// The sequence ends only when ``close()`` is called or the iterating task is cancelled.
public final class RedisSubscriber: AsyncSequence, Sendable {
    public typealias Element = RedisSubscriberEvent
    public typealias Failure = Never

    private let core: SubscriberCore

    /// The connection settings.
    public var configuration: RedisConnectionConfiguration { core.configuration }
    /// The channels subscribed to.
    public var channels: [String] { core.channels }

    /// Starts the subscriber thread; it connects and subscribes right away.
    public init(
        configuration: RedisConnectionConfiguration,
        channels: [String],
        reconnectPolicy: RedisReconnectPolicy = RedisReconnectPolicy(),
        healthCheckInterval: Duration = .seconds(5),
        bufferCapacity: Int = 1024
    ) {
        core = SubscriberCore(
            configuration: configuration,
            channels: channels,
            reconnectPolicy: reconnectPolicy,
            healthCheckInterval: healthCheckInterval,
            bufferCapacity: bufferCapacity
        )
        let core = core
        // The thread holds only the core, so dropping the last handle stops it (deinit).
        _ = DedicatedThread(name: "redis-sub") { core.run() }
    }

    deinit {
        core.close()
    }

    /// How many times the buffer filled up and reading paused.
    public var bufferFullCount: Int { core.bufferFullCount }

    /// Stops the subscriber: closes its socket; the sequence ends after buffered events.
    public func close() {
        core.close()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let subscriber: RedisSubscriber

        public mutating func next() async -> RedisSubscriberEvent? {
            await subscriber.core.nextEvent()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> RedisSubscriberEvent? {
            await subscriber.core.nextEvent()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(subscriber: self)
    }
}

/// The subscriber's state and thread loop, shared by the handle and the thread.
final class SubscriberCore: Sendable {
    let configuration: RedisConnectionConfiguration
    let channels: [String]
    private let policy: RedisReconnectPolicy
    private let healthCheckInterval: Duration
    private let wake = WakeSignal()
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var buffer: RingBuffer<RedisSubscriberEvent>
        var waiter: CheckedContinuation<RedisSubscriberEvent?, Never>?
        var closed = false
        var finished = false
        var bufferFullCount = 0
    }

    init(
        configuration: RedisConnectionConfiguration,
        channels: [String],
        reconnectPolicy: RedisReconnectPolicy = RedisReconnectPolicy(),
        healthCheckInterval: Duration = .seconds(5),
        bufferCapacity: Int = 1024
    ) {
        precondition(!channels.isEmpty, "subscribe to at least one channel")
        self.configuration = configuration
        self.channels = channels
        self.policy = reconnectPolicy
        self.healthCheckInterval = healthCheckInterval
        self.state = Mutex(State(buffer: RingBuffer(capacity: Swift.max(1, bufferCapacity))))
    }

    var bufferFullCount: Int { state.withLock { $0.bufferFullCount } }

    func close() {
        state.withLock { $0.closed = true }
        wake.signal()
    }

    func nextEvent() async -> RedisSubscriberEvent? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RedisSubscriberEvent?, Never>) in
                enum Outcome { case event(RedisSubscriberEvent, wasFull: Bool), end, wait }
                let outcome: Outcome = state.withLock { state in
                    let wasFull = state.buffer.isFull
                    if let event = state.buffer.pop() { return .event(event, wasFull: wasFull) }
                    if state.finished || Task.isCancelled { return .end }
                    state.waiter = continuation
                    return .wait
                }
                switch outcome {
                case .event(let event, let wasFull):
                    // The thread may be parked on a full buffer: tell it there is room.
                    if wasFull { wake.signal() }
                    continuation.resume(returning: event)
                case .end:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    // MARK: Thread

    private func isClosed() -> Bool { state.withLock { $0.closed } }

    private func interruption() -> RedisClientError? {
        isClosed() ? RedisClientError(code: .shutdown, message: "the subscriber was closed") : nil
    }

    /// Hands `event` to the consumer, parking the thread while the buffer is full.
    /// Returns false when the subscriber was closed meanwhile.
    @discardableResult
    private func emit(_ event: RedisSubscriberEvent) -> Bool {
        var counted = false
        while true {
            enum Outcome { case delivered(CheckedContinuation<RedisSubscriberEvent?, Never>?), full, closed }
            let outcome: Outcome = state.withLock { state in
                if state.closed { return .closed }
                if let waiter = state.waiter {
                    state.waiter = nil
                    return .delivered(waiter)
                }
                if state.buffer.isFull {
                    if !counted { state.bufferFullCount += 1 }
                    return .full
                }
                state.buffer.push(event)
                return .delivered(nil)
            }
            switch outcome {
            case .delivered(let waiter):
                waiter?.resume(returning: event)
                return true
            case .closed:
                return false
            case .full:
                counted = true
                wake.wait(timeout: nil)
            }
        }
    }

    func run() {
        var failures = 0
        var outageStart: ContinuousClock.Instant?
        var everSubscribed = false
        while !isClosed() {
            do {
                let session = try HiredisSession.connect(configuration, wake: wake, interrupted: interruption)
                try subscribe(session)
                failures = 0
                if let start = outageStart {
                    outageStart = nil
                    emit(.reconnected(outage: start.duration(to: .now)))
                } else if !everSubscribed {
                    emit(.subscribed(channels: channels))
                }
                everSubscribed = true
                try readMessages(session)
            } catch {
                if isClosed() { break }
                if outageStart == nil {
                    outageStart = .now
                    emit(.disconnected(error))
                }
                let deadline = ContinuousClock.now.advanced(by: policy.delay(afterFailures: failures))
                failures += 1
                // Consumer wake-ups share the signal: keep waiting until the deadline.
                while !isClosed(), case let remaining = ContinuousClock.now.duration(to: deadline), remaining > .zero {
                    wake.wait(timeout: remaining)
                }
            }
        }
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.buffer.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    private func subscribe(_ session: HiredisSession) throws(RedisClientError) {
        var batch = RedisCommandBatch(reservingCapacity: 64)
        batch.append(["SUBSCRIBE"] + channels)
        var failure: RedisClientError?
        try session.execute(batch, replyCount: channels.count, timeout: configuration.commandTimeout, wake: wake, interrupted: interruption) { _, reply in
            let value = RedisReply(hiredis: reply)
            if let error = value.serverError {
                failure = error
            } else if value.array?.first?.string != "subscribe" {
                failure = RedisClientError(code: .protocolError, message: "unexpected reply to SUBSCRIBE: \(value)")
            }
        }
        if let failure { throw failure }
    }

    /// Reads until the connection fails (throws) or the subscriber closes (throws shutdown).
    private func readMessages(_ session: HiredisSession) throws(RedisClientError) {
        var lastActivity = ContinuousClock.now
        var pingSentAt: ContinuousClock.Instant?
        let ping = RedisCommandBatch("PING")
        while true {
            while let reply = try session.nextReply() {
                let value = RedisReply(hiredis: reply)
                freeReplyObject(UnsafeMutableRawPointer(mutating: reply))
                lastActivity = .now
                guard let parts = value.array, let kind = parts.first?.string else { continue }
                if kind == "message", parts.count == 3, let channel = parts[1].string, let payload = parts[2].bytes {
                    if !emit(.message(RedisPubSubMessage(channel: channel, payload: payload))) {
                        throw RedisClientError(code: .shutdown, message: "the subscriber was closed")
                    }
                } else if kind == "pong" {
                    pingSentAt = nil
                }
            }
            let deadline = pingSentAt.map { $0.advanced(by: configuration.commandTimeout) }
                ?? lastActivity.advanced(by: healthCheckInterval)
            do {
                let events = try session.waitForSocket(wantWrite: false, deadline: deadline, wake: wake, interrupted: interruption)
                if events.contains(.readable) { try session.readAvailable() }
            } catch where error.code == .timeout {
                if pingSentAt != nil {
                    throw RedisClientError(code: .timeout, message: "Redis did not answer PING within \(configuration.commandTimeout)")
                }
                try session.writeAll(ping, timeout: configuration.commandTimeout, wake: wake, interrupted: interruption)
                pingSentAt = .now
            }
        }
    }
}

/// Runs `body` with a subscriber that is closed when `body` returns or throws.
@discardableResult
public func withRedisSubscriber<Result: Sendable>(
    _ configuration: RedisConnectionConfiguration,
    channels: [String],
    reconnectPolicy: RedisReconnectPolicy = RedisReconnectPolicy(),
    _ body: (RedisSubscriber) async throws -> Result
) async throws -> Result {
    let subscriber = RedisSubscriber(configuration: configuration, channels: channels, reconnectPolicy: reconnectPolicy)
    defer { subscriber.close() }
    return try await body(subscriber)
}

/// The life of one pool connection: connect (paced by the pool-wide
/// ``ConnectionAttemptQuota``, bounded by `connectTimeout`), heartbeats, idle detection,
/// reconnection with ``ReconnectBackoff``, the gap window reported after a reconnect, and
/// the 24 h rotation.
///
/// Pure and generic over the clock's `Instant`: every method takes the time, and returns
/// the actions to perform outside any lock. Call ``poll(at:attempts:)`` whenever
/// ``nextDeadline`` passes (and after each event).
///
/// Timeline of a connection with the defaults (lifetime 24 h, margin 1 h, ping 3 min, idle
/// timeout 210 s):
///
/// | when | action |
/// |---|---|
/// | `start` | `connect(deadline: now + 5 s)` once the attempt quota allows |
/// | `connected` at `T` | — (the caller resubscribes through its tracker) |
/// | `T + 3 min`, every 3 min | `sendPing` |
/// | 210 s without any frame | `close(.idleTimeout)`, then reconnect |
/// | `T + 23 h` | `openReplacement` (a new connection carrying the same streams) |
/// | replacement confirmed and delivering | `switchOver` (close this one for good) |
/// | `T + 23 h + rotationOverlapTimeout` without a switch-over | `cancelReplacement`, tried again later |
/// | this one drops during the rotation | `cancelReplacement`, then reconnect with a gap window |
///
/// Reconnects: after a drop the wait is `backoff.delay(afterFailures: n)` with `n`
/// consecutive failed lives (connect failures, timeouts, drops); `n` restarts at 0 when the
/// dropped connection had been open for `healthyConnectionDuration`. The gap window runs
/// from the last data frame received before the drop (the open time if none) to the first
/// data frame after the reconnection, and is reported once as ``Reconnected``.
public struct ConnectionLifecycleStateMachine<Instant: InstantProtocol>: Sendable
where Instant.Duration == Duration, Instant: Sendable {
    // MARK: Types

    /// Why this machine asks for a socket to be closed.
    public enum CloseReason: String, Sendable, Hashable {
        /// The connection attempt did not complete within `connectTimeout`.
        case connectTimeout
        /// No frame at all for `idleTimeout`.
        case idleTimeout
        /// The pool is shutting down (``close()``).
        case shutdown
    }

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        /// Open the socket now; report ``connected(at:)`` or ``closed(at:unitRandom:)``.
        /// Abandon the attempt at `deadline` (``poll(at:attempts:)`` will ask for it).
        case connect(deadline: Instant)
        /// Send a WebSocket ping (it counts against the message quota).
        case sendPing
        /// Close the socket, then report ``closed(at:unitRandom:)``.
        case close(CloseReason)
        /// Rotation is due: open a replacement connection carrying the same streams.
        case openReplacement
        /// The replacement is ready: move the streams to it and close this connection for good.
        case switchOver
        /// Abandon the replacement (this connection dropped first, or the overlap timed out).
        case cancelReplacement
        /// `backoff.maxAttempts` consecutive failures: the connection gives up.
        case giveUp(failures: Int)
    }

    /// Where the connection is.
    public enum State: Sendable, Equatable {
        /// Not started.
        case idle
        /// Waiting for the backoff (or the attempt quota) before connecting.
        case waitingToConnect(notBefore: Instant)
        /// A connection attempt is in progress.
        case connecting(deadline: Instant)
        /// Open since `since`.
        case open(since: Instant)
        /// A close was requested (idle or connect timeout); a reconnect follows the close.
        case closingToReconnect(CloseReason)
        /// Closing for good (switch-over or shutdown).
        case closing
        /// Closed for good.
        case closed
    }

    /// The end of a gap: data flows again after a reconnect. Write gap markers for every
    /// stream the connection carries from `gapStart` to `gapEnd`.
    public struct Reconnected: Sendable, Equatable {
        /// The connection.
        public let connection: PoolConnectionID
        /// Last data frame received before the drop (the open time if there was none).
        public let gapStart: Instant
        /// First data frame received after the reconnection.
        public let gapEnd: Instant
        /// Connection lives that failed in between (0: the first reconnect worked).
        public let failedAttempts: Int
    }

    private enum Rotation: Sendable, Equatable {
        case due(at: Instant)
        case replacing(since: Instant)
    }

    private struct Session: Sendable, Equatable {
        var openedAt: Instant
        var lastFrameAt: Instant
        var lastDataAt: Instant?
        var nextPingAt: Instant
        var rotation: Rotation
    }

    // MARK: State

    /// The connection this machine drives.
    public let connection: PoolConnectionID
    private let configuration: StreamPoolConfiguration
    /// Where the connection is.
    public private(set) var state: State = .idle
    /// Consecutive failed connection lives since the last healthy one.
    public private(set) var consecutiveFailures = 0
    private var session: Session?
    /// Start of the current gap (set at a drop, cleared by the first data frame after reopening).
    private var gapStart: Instant?
    private var failuresInGap = 0

    /// A machine for `connection` with the pool's `configuration`.
    public init(connection: PoolConnectionID, configuration: StreamPoolConfiguration) {
        self.connection = connection
        self.configuration = configuration
    }

    /// True while the socket is open.
    public var isOpen: Bool { if case .open = state { true } else { false } }
    /// True while a rotation replacement is being prepared.
    public var isRotating: Bool { if case .replacing = session?.rotation { true } else { false } }
    /// When the current gap started, while a reconnect is in progress.
    public var currentGapStart: Instant? { gapStart }

    // MARK: Events

    /// Starts the connection: the first attempt is made at the first ``poll(at:attempts:)``.
    public mutating func start(at now: Instant) {
        guard state == .idle else { return }
        state = .waitingToConnect(notBefore: now)
    }

    /// The socket opened at `now`.
    public mutating func connected(at now: Instant) {
        guard case .connecting = state else { return }
        state = .open(since: now)
        session = Session(
            openedAt: now,
            lastFrameAt: now,
            lastDataAt: nil,
            nextPingAt: now.advanced(by: configuration.pingInterval),
            rotation: .due(at: now.advanced(by: configuration.connectionLifetime - configuration.rotationMargin))
        )
    }

    /// A frame arrived at `now`: `isData` for stream data, false for replies, pings and pongs.
    /// Any frame resets the idle timer; the first data frame after a reconnect ends the gap.
    // Called per frame from another module: a generic call there would look up the type's
    // metadata at run time on every frame (seen in profiles), so the pool's clock is
    // specialized here.
    @_specialize(exported: true, where Instant == ContinuousClock.Instant)
    public mutating func frameReceived(at now: Instant, isData: Bool) -> Reconnected? {
        guard isOpen, session != nil else { return nil }
        session!.lastFrameAt = now
        guard isData else { return nil }
        session!.lastDataAt = now
        guard let start = gapStart else { return nil }
        gapStart = nil
        defer { failuresInGap = 0 }
        return Reconnected(connection: connection, gapStart: start, gapEnd: now, failedAttempts: failuresInGap)
    }

    /// The socket closed (or the attempt failed) at `now`; `unitRandom` in [0, 1) draws the
    /// backoff jitter. Returns what to do: nothing (a reconnect is scheduled),
    /// `cancelReplacement` if a rotation was in progress, or `giveUp`.
    public mutating func closed(at now: Instant, unitRandom: Double) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .idle, .waitingToConnect, .closed:
            return []
        case .closing:
            state = .closed
            session = nil
            return []
        case .open, .connecting, .closingToReconnect:
            // A session exists when the socket had opened (a drop, or an idle close).
            if let session {
                if session.openedAt.duration(to: now) >= configuration.healthyConnectionDuration { consecutiveFailures = 0 }
                if gapStart == nil { gapStart = session.lastDataAt ?? session.openedAt }
                if case .replacing = session.rotation { actions.append(.cancelReplacement) }
            }
        }
        session = nil
        if gapStart != nil { failuresInGap = consecutiveFailures }
        guard configuration.backoff.allowsAttempt(afterFailures: consecutiveFailures) else {
            state = .closed
            return actions + [.giveUp(failures: consecutiveFailures)]
        }
        let delay = configuration.backoff.delay(afterFailures: consecutiveFailures, unitRandom: unitRandom)
        consecutiveFailures += 1
        state = .waitingToConnect(notBefore: now.advanced(by: delay))
        return actions
    }

    /// The rotation's replacement has every stream confirmed and has delivered data:
    /// returns `switchOver` (this connection then closes for good), or nothing if no
    /// rotation is in progress.
    public mutating func replacementReady(at now: Instant) -> [Action] {
        guard isOpen, isRotating else { return [] }
        state = .closing
        return [.switchOver]
    }

    /// The replacement failed (or was abandoned by the caller): the rotation is tried again
    /// `rotationOverlapTimeout` after `now`.
    public mutating func replacementFailed(at now: Instant) {
        guard isOpen, isRotating else { return }
        session!.rotation = .due(at: now.advanced(by: configuration.rotationOverlapTimeout))
    }

    /// Closes the connection for good (pool shutdown).
    public mutating func close() -> [Action] {
        switch state {
        case .closed, .closing: return []
        case .idle, .waitingToConnect:
            state = .closed
            return []
        case .connecting, .open, .closingToReconnect:
            let cancel: [Action] = isRotating ? [.cancelReplacement] : []
            state = .closing
            return cancel + [.close(.shutdown)]
        }
    }

    // MARK: Timers

    /// The earliest instant at which ``poll(at:attempts:)`` has something to do.
    public var nextDeadline: Instant? {
        switch state {
        case .waitingToConnect(let notBefore): return notBefore
        case .connecting(let deadline): return deadline
        case .open:
            guard let session else { return nil }
            let rotation: Instant =
                switch session.rotation {
                case .due(let at): at
                case .replacing(let since): since.advanced(by: configuration.rotationOverlapTimeout)
                }
            return min(session.nextPingAt, session.lastFrameAt.advanced(by: configuration.idleTimeout), rotation)
        case .idle, .closingToReconnect, .closing, .closed: return nil
        }
    }

    /// Performs the timers due at `now`: connect when the backoff and the attempt quota
    /// allow, abandon a slow attempt, ping, close an idle connection, start or time out a
    /// rotation.
    public mutating func poll(at now: Instant, attempts: inout ConnectionAttemptQuota<Instant>) -> [Action] {
        switch state {
        case .waitingToConnect(let notBefore):
            guard now >= notBefore else { return [] }
            switch attempts.acquire(at: now) {
            case .waitUntil(let instant):
                state = .waitingToConnect(notBefore: instant)
                return []
            case .sendNow:
                let deadline = now.advanced(by: configuration.connectTimeout)
                state = .connecting(deadline: deadline)
                return [.connect(deadline: deadline)]
            }
        case .connecting(let deadline):
            guard now >= deadline else { return [] }
            state = .closingToReconnect(.connectTimeout)
            return [.close(.connectTimeout)]
        case .open:
            guard var session else { return [] }
            if now >= session.lastFrameAt.advanced(by: configuration.idleTimeout) {
                state = .closingToReconnect(.idleTimeout)
                return [.close(.idleTimeout)]
            }
            var actions: [Action] = []
            if now >= session.nextPingAt {
                session.nextPingAt = now.advanced(by: configuration.pingInterval)
                actions.append(.sendPing)
            }
            switch session.rotation {
            case .due(let at) where now >= at:
                session.rotation = .replacing(since: now)
                actions.append(.openReplacement)
            case .replacing(let since) where now >= since.advanced(by: configuration.rotationOverlapTimeout):
                session.rotation = .due(at: now.advanced(by: configuration.rotationOverlapTimeout))
                actions.append(.cancelReplacement)
            default:
                break
            }
            self.session = session
            return actions
        case .idle, .closingToReconnect, .closing, .closed:
            return []
        }
    }
}

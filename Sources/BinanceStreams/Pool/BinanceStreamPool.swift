import BridgeCore
import Logging
import NIOCore
import Synchronization

/// The WebSocket pool of one Binance futures market: the I/O driver of BridgeCore's pure
/// state machines (`docs/stream-pool.md` lists the calls, in order).
///
/// Every state machine lives in one `Mutex<State>`; callbacks from sockets and the timer
/// loop mutate it under the lock and collect *actions*, which are performed after the lock is
/// released (connect, send a request, close a socket). Output goes to ``events``, bounded.
///
/// ```swift
/// let pool = BinanceStreamPool(endpoint: .mainnet(.usdm), logger: logger)
/// async let driver: Void = pool.run()
/// let result = try pool.subscribe(["btcusdt@aggTrade"])
/// for await event in pool.events { … }
/// ```
///
/// Rotation: `rotationMargin` before a connection's lifetime a replacement is opened with the
/// same streams; once it has them all confirmed and has delivered, the streams switch to it
/// and the old socket closes. Frames seen on both during the overlap are delivered once
/// (``OverlapDeduplicator``). If the old one dies first (Binance's 24 h close, a drop) while
/// the replacement has every stream confirmed, the streams switch to it at once; otherwise
/// the old one reconnects with a gap window. A stream whose two sequences never overlapped
/// before its switch (so frames between them may be missing) is reported by
/// ``StreamPoolLifecycleEvent/rotationGap(connection:replacement:streams:gapStartMicroseconds:gapEndMicroseconds:)``
/// ahead of the replacement's first frame of it.
public final class BinanceStreamPool: Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// The result of ``subscribe(_:)``.
    public struct SubscribeResult: Sendable, Equatable {
        public var added: [String]
        public var already: [String]
        /// Streams now subscribed in this market.
        public var total: Int
    }

    /// The result of ``unsubscribe(_:)``.
    public struct UnsubscribeResult: Sendable, Equatable {
        public var removed: [String]
        public var absent: [String]
        public var total: Int
    }

    /// One subscribed stream, for `list`.
    public struct Subscription: Sendable, Equatable {
        public var stream: String
        /// `pending`, `confirmed` or `failed`.
        public var state: String
        public var failureReason: String?
        public var connection: Int
    }

    public let market: BinanceMarket
    public let configuration: StreamPoolConfiguration
    /// Every message and lifecycle event, merged, bounded (drop oldest message).
    public let events: StreamPoolEvents
    private let endpoint: BinanceEndpoint
    private let connectionTemplate: BinanceConnectionSettings
    private let logger: Logger
    private let state: Mutex<State>
    private let wake = WakeSignal()
    /// Wall clock (µs) and monotonic instant taken together, to report gap windows as
    /// wall-clock times while the state machines run on the monotonic clock.
    private let epoch: (wall: Int64, instant: Instant)

    private struct Slot {
        var lifecycle: ConnectionLifecycleStateMachine<Instant>
        var tracker: SubscriptionRequestTracker<Instant>
        var route: StreamRoute
        var writer: BinanceRequestWriter?
        var task: Task<Void, Never>?
        /// Bumped on every socket, so callbacks of a previous socket are ignored.
        var generation = 0
        /// After the empty-connection linger, close for good.
        var closeAt: Instant?
        var closingForGood = false
    }

    private struct State {
        var pool: StreamPoolStateMachine
        var slots: [PoolConnectionID: Slot] = [:]
        var messageQuota: SubscriptionMessageQuota<PoolConnectionID, Instant>
        var attempts: ConnectionAttemptQuota<Instant>
        var closed = false
        var unrecognizedFrames = 0
        var driverWakeups = 0
        /// Per-stream silence detection (data only).
        var liveness: StreamLivenessTracker<BinanceStreamName, Instant>
        /// Subscribed names by their text, so a data frame finds its stream without parsing.
        var names: [String: BinanceStreamName] = [:]
        var forcedResubscriptions = 0
        /// Rotations in progress or just switched, keyed by the replacement's id.
        var rotations: [PoolConnectionID: Rotation] = [:]
        var rotationsCompleted = 0
    }

    /// One 24 h rotation: the old connection, the replacement, and the deduplicator that
    /// merges their frames so each message is delivered once.
    private struct Rotation {
        var old: PoolConnectionID
        /// When the replacement was opened: a rotation gap's window starts here (the old
        /// connection delivered everything before, the replacement everything after its
        /// subscription).
        var startedAt: Instant
        var dedup: OverlapDeduplicator<String, StreamMessage>
        var newDelivered = false
        /// Streams the old connection delivered since the rotation began.
        var oldDelivered: Set<String> = []
        /// Set at the switch-over: the deduplicator keeps filtering the replacement's frames
        /// (those the old connection already delivered) until then + the overlap timeout.
        var switchedAt: Instant?
    }

    /// What to do outside the lock.
    private enum Work {
        case connect(PoolConnectionID, generation: Int, route: StreamRoute)
        case send(BinanceRequestWriter, String, PoolConnectionID)
        case cancel(Task<Void, Never>)
    }

    /// - Parameters:
    ///   - endpoint: where the market is (Binance, testnet, or the simulator).
    ///   - connection: settings template (API key, TLS trust, server name); its URL is
    ///     replaced per route.
    public init(
        endpoint: BinanceEndpoint,
        configuration: StreamPoolConfiguration = StreamPoolConfiguration(),
        connection: BinanceConnectionSettings? = nil,
        logger: Logger
    ) {
        market = endpoint.market
        self.endpoint = endpoint
        self.configuration = configuration
        var template = connection ?? BinanceConnectionSettings(url: "")
        template.connectTimeout = configuration.connectTimeout
        connectionTemplate = template
        self.logger = logger
        events = StreamPoolEvents(capacity: configuration.outputBufferCapacity)
        state = Mutex(State(
            pool: StreamPoolStateMachine(market: endpoint.market, configuration: configuration),
            messageQuota: SubscriptionMessageQuota(configuration: configuration),
            attempts: ConnectionAttemptQuota(configuration: configuration),
            liveness: StreamLivenessTracker(configuration: configuration.liveness)
        ))
        epoch = (WallClock.microseconds(), .now)
    }

    // MARK: API

    /// Subscribes `streams` (validated whole; all-or-nothing on capacity). Returns at once:
    /// confirmation arrives as `.confirmed` events and in ``subscriptions``.
    public func subscribe(_ streams: [String]) throws -> SubscribeResult {
        let names = try BinanceStreamName.parseAll(streams, market: market).get()
        let result = try state.withLock { state throws(StreamPoolError) -> SubscribeResult in
            guard !state.closed else { throw StreamPoolError(code: .poolExhausted, message: "the pool is closed", streams: names) }
            let plan = try state.pool.subscribe(names)
            let now = Instant.now
            for connection in plan.newConnections {
                var lifecycle = ConnectionLifecycleStateMachine<Instant>(connection: connection.id, configuration: configuration)
                lifecycle.start(at: now)
                state.slots[connection.id] = Slot(
                    lifecycle: lifecycle,
                    tracker: SubscriptionRequestTracker(connection: connection.id, configuration: configuration),
                    route: connection.route
                )
            }
            for entry in plan.subscribe {
                state.slots[entry.connection]?.tracker.subscribe(entry.streams)
                state.slots[entry.connection]?.closeAt = nil
            }
            for stream in plan.added {
                state.names[stream.rawValue] = stream
                state.liveness.track(stream, at: now)
            }
            return SubscribeResult(added: plan.added.map(\.rawValue), already: plan.already.map(\.rawValue), total: state.pool.subscriptionCount)
        }
        wake.signal()
        return result
    }

    /// Unsubscribes `streams`; a connection left empty closes after the linger.
    public func unsubscribe(_ streams: [String]) throws -> UnsubscribeResult {
        let names = try BinanceStreamName.parseAll(streams, market: market).get()
        let result = state.withLock { state -> UnsubscribeResult in
            let plan = state.pool.unsubscribe(names)
            for entry in plan.unsubscribe { state.slots[entry.connection]?.tracker.unsubscribe(entry.streams) }
            let closeAt = Instant.now.advanced(by: configuration.emptyConnectionLinger)
            for id in plan.emptied { state.slots[id]?.closeAt = closeAt }
            for stream in plan.removed {
                state.names[stream.rawValue] = nil
                state.liveness.untrack(stream)
            }
            return UnsubscribeResult(removed: plan.removed.map(\.rawValue), absent: plan.absent.map(\.rawValue), total: state.pool.subscriptionCount)
        }
        wake.signal()
        return result
    }

    /// Every subscribed stream with its state and connection, sorted by name.
    public var subscriptions: [Subscription] {
        state.withLock { state in
            state.pool.subscriptions.map { subscription in
                let (name, reason): (String, String?) =
                    switch subscription.state {
                    case .pending: ("pending", nil)
                    case .confirmed: ("confirmed", nil)
                    case .failed(let reason): ("failed", reason)
                    }
                return Subscription(stream: subscription.stream.rawValue, state: name, failureReason: reason, connection: subscription.connection.rawValue)
            }.sorted { $0.stream < $1.stream }
        }
    }

    public var subscriptionCount: Int { state.withLock { $0.pool.subscriptionCount } }

    /// One connection as `status` shows it.
    public struct ConnectionSnapshot: Sendable, Equatable {
        public var id: Int
        /// `public`, `market` or `unrouted`.
        public var route: String
        public var streams: Int
        /// `open`, `connecting`, `waiting` (backoff) or `closing`.
        public var state: String
        /// Seconds since the current socket opened (0 when not open).
        public var ageSeconds: Double
    }

    /// Every connection of the pool, by id.
    public var connections: [ConnectionSnapshot] {
        let now = Instant.now
        return state.withLock { state in
            state.pool.connections.map { connection in
                let lifecycle = state.slots[connection.id]?.lifecycle.state
                let (name, age): (String, Double) =
                    switch lifecycle {
                    case .open(let since): ("open", Double((now - since).wholeMicroseconds) / 1e6)
                    case .connecting: ("connecting", 0)
                    case .waitingToConnect, .idle, .none: ("waiting", 0)
                    case .closingToReconnect, .closing, .closed: ("closing", 0)
                    }
                return ConnectionSnapshot(
                    id: connection.id.rawValue, route: connection.route.rawValue, streams: connection.streams.count, state: name, ageSeconds: age
                )
            }
        }
    }

    /// Connections in the pool (open or reconnecting).
    public var connectionCount: Int { state.withLock { $0.pool.connections.count } }

    /// Open sockets right now.
    public var openConnectionCount: Int { state.withLock { $0.slots.values.filter { $0.writer != nil }.count } }

    /// True while the pool runs and has at least one open socket.
    public var isActive: Bool { state.withLock { !$0.closed && $0.slots.values.contains { $0.writer != nil } } }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Frames that were neither data nor replies (malformed, truncated), since start.
    public var unrecognizedFrameCount: Int { state.withLock { $0.unrecognizedFrames } }

    /// Times the timer loop ran, since start (a health check on its deadlines).
    public var driverWakeupCount: Int { state.withLock { $0.driverWakeups } }

    /// Rotations switched over without a gap, since start.
    public var rotationCount: Int { state.withLock { $0.rotationsCompleted } }

    /// Stale streams resubscribed by liveness, since start.
    public var forcedResubscriptionCount: Int { state.withLock { $0.forcedResubscriptions } }

    /// Stops every task and closes every socket; ``run()`` returns and ``events`` ends.
    public func close() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.closed = true
            return state.slots.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
        wake.signal()
    }

    // MARK: Driver

    /// Runs the timers (connects, backoff, request pacing, ack timeouts, lingers) until
    /// ``close()`` or cancellation; then closes every socket and ends ``events``.
    public func run() async {
        await withTaskCancellationHandler {
            while !isClosed {
                let (work, deadline) = state.withLock { collect(&$0, now: .now) }
                await perform(work)
                await wake.wait(until: deadline)
            }
        } onCancel: {
            close()
        }
        let tasks = state.withLock { $0.slots.values.compactMap(\.task) }
        for task in tasks {
            task.cancel()
            await task.value
        }
        events.finish()
    }

    /// Polls every state machine at `now`; returns the work to do and the next deadline.
    private func collect(_ state: inout State, now: Instant) -> ([Work], Instant?) {
        state.driverWakeups += 1
        var work: [Work] = []
        var deadline: Instant?
        func earliest(_ instant: Instant?) {
            guard let instant else { return }
            deadline = deadline.map { min($0, instant) } ?? instant
        }
        var lifecycleEvents: [StreamPoolLifecycleEvent] = []
        var switchEvents: [StreamPoolEvent] = []
        for (new, rotation) in state.rotations {
            if let switchedAt = rotation.switchedAt {
                let end = switchedAt.advanced(by: configuration.rotationOverlapTimeout)
                if end <= now { state.rotations[new] = nil } else { earliest(end) }
            }
        }
        for id in state.slots.keys.sorted() {
            guard var slot = state.slots[id] else { continue }
            if let closeAt = slot.closeAt {
                if closeAt <= now {
                    slot.closeAt = nil
                    if state.pool.closeIfEmpty(id) {
                        slot.closingForGood = true
                        _ = slot.lifecycle.close()
                        if let task = slot.task { work.append(.cancel(task)) } else {
                            forget(id, &state)
                            continue
                        }
                    }
                } else {
                    earliest(closeAt)
                }
            }
            if !slot.closingForGood {
                for action in slot.lifecycle.poll(at: now, attempts: &state.attempts) {
                    switch action {
                    case .connect:
                        slot.generation += 1
                        work.append(.connect(id, generation: slot.generation, route: slot.route))
                    case .close(.idleTimeout):
                        // The connection enforces `idleTimeout` itself, counting every frame
                        // (pings and pongs stay inside it and are not seen here, so a
                        // connection of quiet streams would look idle to this machine while
                        // healthy); it then ends as `unresponsive` and reconnects like any
                        // drop. Silent streams are liveness's. Reset this machine's timer, or
                        // its deadline would stay in the past and spin this loop.
                        _ = slot.lifecycle.frameReceived(at: now, isData: false)
                    case .close:
                        if let task = slot.task { work.append(.cancel(task)) }
                    case .sendPing:
                        break  // swift-websocket's auto-ping sends them and enforces the pong deadline
                    case .openReplacement:
                        state.slots[id] = slot
                        if beginRotation(of: id, &state, now: now) {
                            // The replacement's slot is not in this pass's key list: poll
                            // again at once, or it would wait for the next unrelated wake-up
                            // (seen: a rotation begun while its streams were silent never
                            // connected its replacement).
                            earliest(now)
                        } else {
                            state.slots[id]?.lifecycle.replacementFailed(at: now)
                        }
                        slot = state.slots[id]!
                    case .switchOver:
                        state.slots[id] = slot
                        let (done, cancel) = switchOver(from: id, &state, now: now)
                        switchEvents += done
                        if let cancel { work.append(.cancel(cancel)) }
                        slot = state.slots[id]!
                    case .cancelReplacement:
                        // The overlap timed out.
                        state.slots[id] = slot
                        if let new = subscribedReplacement(of: id, state), state.rotations[new]?.newDelivered == true {
                            // The replacement is subscribed and delivering, so a stream never
                            // aligned (only one side carried it): switch now, that stream
                            // behind a rotation gap, rather than retry every overlap period
                            // until Binance's 24 h close cuts the old socket anyway.
                            logger.notice("rotation overlap timed out: switching with a gap", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.replacement": "\(new.rawValue)"])
                            let (done, cancel) = switchOver(from: id, &state, now: now)
                            switchEvents += done
                            if let cancel { work.append(.cancel(cancel)) }
                        } else {
                            let abandoned = abandonRotation(of: id, &state, now: now)
                            if let cancel = abandoned.cancel { work.append(.cancel(cancel)) }
                            if let gap = abandoned.gap { lifecycleEvents.append(gap) }
                        }
                        slot = state.slots[id]!
                    case .giveUp(let failures):
                        logger.error("connection gave up", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.failures": "\(failures)"])
                    }
                }
                lifecycleEvents += apply(slot.tracker.expireRequests(at: now), on: id, &state)
                if let writer = slot.writer {
                    sending: while true {
                        switch slot.tracker.nextAction(at: now, quota: &state.messageQuota) {
                        case .send(let request):
                            work.append(.send(writer, Self.encode(request), id))
                        case .waitUntil(let instant):
                            earliest(instant)
                            break sending
                        case .idle:
                            break sending
                        }
                    }
                }
                earliest(slot.tracker.nextTimeout)
                earliest(slot.lifecycle.nextDeadline)
            }
            state.slots[id] = slot
        }
        lifecycleEvents += pollLiveness(&state, now: now)
        earliest(state.liveness.nextDeadline)
        for event in switchEvents { events.yield(event) }
        for event in lifecycleEvents { events.yield(.lifecycle(event)) }
        return (work, deadline)
    }

    // MARK: Rotation

    /// Opens a replacement for `old` carrying the same streams. False if the pool refuses
    /// (not open, or already being replaced).
    private func beginRotation(of old: PoolConnectionID, _ state: inout State, now: Instant) -> Bool {
        guard let replacement = state.pool.beginReplacement(of: old), let route = state.slots[old]?.route else { return false }
        var lifecycle = ConnectionLifecycleStateMachine<Instant>(connection: replacement.new, configuration: configuration)
        lifecycle.start(at: now)
        var tracker = SubscriptionRequestTracker<Instant>(connection: replacement.new, configuration: configuration)
        tracker.subscribe(replacement.streams)
        state.slots[replacement.new] = Slot(lifecycle: lifecycle, tracker: tracker, route: route)
        state.rotations[replacement.new] = Rotation(old: old, startedAt: now, dedup: OverlapDeduplicator(capacityPerStream: configuration.rotationBufferPerStream))
        logger.info("rotating connection", metadata: ["bridge.connection": "\(old.rawValue)", "bridge.replacement": "\(replacement.new.rawValue)"])
        return true
    }

    /// The replacement of `old` if it is open with every stream confirmed: one the streams
    /// can move to at once.
    private func subscribedReplacement(of old: PoolConnectionID, _ state: State) -> PoolConnectionID? {
        guard let new = replacement(of: old, state), state.slots[new]?.writer != nil, state.slots[new]?.tracker.isFullyConfirmed == true else { return nil }
        return new
    }

    /// Drops a connection that has ended for good from the slots, the pool and the quota.
    private func forget(_ id: PoolConnectionID, _ state: inout State) {
        state.slots[id] = nil
        _ = state.pool.connectionClosed(id)
        state.messageQuota.remove(id)
    }

    /// The replacement of `old`, if a rotation is in progress.
    private func replacement(of old: PoolConnectionID, _ state: State) -> PoolConnectionID? {
        state.rotations.first { $0.value.old == old && $0.value.switchedAt == nil }?.key
    }

    /// Moves `old`'s streams to its replacement, releases what the deduplicator held, and
    /// closes `old` for good. Returns, in delivery order, the `rotated` event, a
    /// `rotationGap` for streams switched without an overlap, and the released frames; and
    /// the old socket's task to cancel.
    private func switchOver(from old: PoolConnectionID, _ state: inout State, now: Instant) -> (events: [StreamPoolEvent], cancel: Task<Void, Never>?) {
        guard let new = replacement(of: old, state), state.pool.completeReplacement(of: old) == new else { return ([], nil) }
        var rotation = state.rotations[new]!
        let unprovenBefore = rotation.dedup.unprovenStreams.count
        let released = rotation.dedup.finish().flatMap(\.payloads)
        rotation.switchedAt = now
        state.rotations[new] = rotation
        state.rotationsCompleted += 1
        let streams = state.pool.connection(new)?.streams.map(\.rawValue).sorted() ?? []
        state.slots[old]?.closingForGood = true
        _ = state.slots[old]?.lifecycle.close()
        var events: [StreamPoolEvent] = [.lifecycle(.rotated(connection: old.rawValue, replacement: new.rawValue, streams: streams))]
        if let gap = rotationGap(rotation, new: new, since: unprovenBefore, now: now) { events.append(.lifecycle(gap)) }
        return (events + released.map { .message($0) }, state.slots[old]?.task)
    }

    /// A `rotationGap` for the streams the deduplicator switched without an overlap since it
    /// had listed `count` of them, or nil if there are none.
    private func rotationGap(_ rotation: Rotation, new: PoolConnectionID, since count: Int, now: Instant) -> StreamPoolLifecycleEvent? {
        let streams = rotation.dedup.unprovenStreams.dropFirst(count)
        guard !streams.isEmpty else { return nil }
        return .rotationGap(connection: rotation.old.rawValue, replacement: new.rawValue, streams: streams.sorted(), gapStartMicroseconds: wall(rotation.startedAt), gapEndMicroseconds: wall(now))
    }

    /// Gives up `old`'s replacement (the overlap timed out before it was subscribed, it
    /// died, or `old` dropped first); returns the replacement's socket task to cancel, and a
    /// `rotationGap` for the streams already switched to it (their frames from the old
    /// socket were dropped as duplicates meanwhile).
    private func abandonRotation(of old: PoolConnectionID, _ state: inout State, now: Instant) -> (cancel: Task<Void, Never>?, gap: StreamPoolLifecycleEvent?) {
        guard let new = replacement(of: old, state) else { return (nil, nil) }
        var gap: StreamPoolLifecycleEvent?
        if let rotation = state.rotations[new], case let switched = rotation.dedup.switchedStreams, !switched.isEmpty {
            gap = .rotationGap(connection: old.rawValue, replacement: new.rawValue, streams: switched.sorted(), gapStartMicroseconds: wall(rotation.startedAt), gapEndMicroseconds: wall(now))
        }
        _ = state.pool.abandonReplacement(of: old)
        state.rotations[new] = nil
        state.slots[new]?.closingForGood = true
        _ = state.slots[new]?.lifecycle.close()
        logger.notice("rotation abandoned", metadata: ["bridge.connection": "\(old.rawValue)", "bridge.replacement": "\(new.rawValue)"])
        return (state.slots[new]?.task, gap)
    }

    /// Once the replacement has every stream confirmed and has delivered, the old
    /// connection's lifecycle decides the switch-over.
    private func checkRotationReady(_ new: PoolConnectionID, _ state: inout State, now: Instant) -> (events: [StreamPoolEvent], cancel: Task<Void, Never>?) {
        guard let rotation = state.rotations[new], rotation.switchedAt == nil, rotation.newDelivered,
              state.slots[new]?.tracker.isFullyConfirmed == true
        else { return ([], nil) }
        // Every stream the replacement has already delivered must be aligned with the old
        // connection first. Switching earlier would release its buffered frames unchecked,
        // and the deduplicator's history starts at the rotation: a frame the old connection
        // delivered just before it would come again. A stream that never aligns holds the
        // switch until the overlap timeout abandons the rotation (retried later, no loss).
        // A stream is ready when aligned, or when neither side has delivered it during the
        // overlap (quiet: the replacement's first frame comes after its subscription, which
        // is after anything the old one delivered). One side only means wait: the other
        // side's frames may repeat or precede them.
        let streams = state.pool.connection(rotation.old)?.streams ?? []
        guard streams.allSatisfy({ stream in
            let name = stream.rawValue
            return rotation.dedup.hasSwitched(name) || (rotation.dedup.bufferedCount(name) == 0 && !rotation.oldDelivered.contains(name))
        }) else {
            return ([], nil)
        }
        guard let actions = state.slots[rotation.old]?.lifecycle.replacementReady(at: now), actions.contains(.switchOver) else {
            return ([], nil)
        }
        return switchOver(from: rotation.old, &state, now: now)
    }

    /// Stale and resumed streams; a stale stream with a documented cadence is resubscribed
    /// (UNSUBSCRIBE then SUBSCRIBE on its connection) every `resubscribeAfter`.
    private func pollLiveness(_ state: inout State, now: Instant) -> [StreamPoolLifecycleEvent] {
        var output: [StreamPoolLifecycleEvent] = []
        for event in state.liveness.poll(at: now) {
            switch event {
            case .stale(let stream, let since):
                output.append(.stale(stream: stream.rawValue, silentForMicroseconds: (now - since).wholeMicroseconds))
            case .resumed(let stream, _):
                output.append(.resumed(stream: stream.rawValue))
            case .resubscribe(let stream):
                guard let id = state.pool.subscription(stream)?.connection, state.slots[id]?.writer != nil else { continue }
                // Not while the connection is being rotated: its replacement subscribes the
                // stream afresh, and changing the old socket's subscriptions mid-overlap was
                // seen to cost a duplicate across the switch (under load). Liveness asks again
                // after `resubscribeAfter`.
                guard replacement(of: id, state) == nil, state.rotations[id]?.switchedAt == nil || state.rotations[id] == nil else { continue }
                state.slots[id]!.tracker.unsubscribe([stream])
                state.slots[id]!.tracker.subscribe([stream])
                state.forcedResubscriptions += 1
                logger.notice("stale stream resubscribed", metadata: ["bridge.stream": "\(stream.rawValue)", "bridge.connection": "\(id.rawValue)"])
            }
        }
        return output
    }


    private func perform(_ work: [Work]) async {
        for item in work {
            switch item {
            case .connect(let id, let generation, let route):
                startSocket(id, generation: generation, route: route)
            case .send(let writer, let text, let id):
                do {
                    try await writer.send(text)
                } catch {
                    // The socket is going away; its end callback reports it.
                    logger.debug("request not sent", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.error": "\(error)"])
                }
            case .cancel(let task):
                task.cancel()
            }
        }
    }

    /// `{"method":"SUBSCRIBE","params":[…],"id":N}`; stream names never need escaping
    /// (``BinanceStreamName`` admits no quotes or backslashes).
    static func encode(_ request: SubscriptionRequestTracker<Instant>.Request) -> String {
        var text = #"{"method":""# + request.method.rawValue + #"","params":["#
        for (index, stream) in request.streams.enumerated() {
            if index > 0 { text += "," }
            text += "\"" + stream.rawValue + "\""
        }
        return text + #"],"id":"# + String(request.id) + "}"
    }

    // MARK: Sockets

    private func startSocket(_ id: PoolConnectionID, generation: Int, route: StreamRoute) {
        var settings = connectionTemplate
        settings.url = endpoint.combinedStreamURL(route: BinanceRoute(rawValue: route.rawValue) ?? .unrouted)
        settings.autoPing = configuration.pingInterval
        settings.idleTimeout = configuration.idleTimeout
        let inbox = SocketInbox()
        let task = Task { [self] in
            let reason: String
            do {
                let end = try await BinanceConnection.run(settings, logger: logger) { writer in
                    self.opened(id, generation: generation, writer: writer)
                } onMessage: { message in
                    inbox.append(message)
                } onReadComplete: {
                    // A read's messages under one lock, then one wake of the consumer.
                    self.received(inbox.take(), on: id, generation: generation)
                    self.events.flush()
                }
                reason = "\(end)"
            } catch {
                reason = "\(error)"
            }
            self.ended(id, generation: generation, reason: reason)
        }
        let stale = state.withLock { state -> Bool in
            guard state.slots[id]?.generation == generation, !state.closed else { return true }
            state.slots[id]?.task = task
            return false
        }
        if stale { task.cancel() }
    }

    private func opened(_ id: PoolConnectionID, generation: Int, writer: BinanceRequestWriter) {
        let current = state.withLock { state -> Bool in
            guard var slot = state.slots[id], slot.generation == generation else { return false }
            slot.writer = writer
            slot.lifecycle.connected(at: .now)
            state.pool.connectionOpened(id)
            _ = slot.tracker.connectionOpened()
            state.slots[id] = slot
            events.yield(.lifecycle(.connectionOpened(connection: id.rawValue, route: BinanceRoute(rawValue: slot.route.rawValue) ?? .unrouted)))
            return true
        }
        guard current else { return }
        wake.signal()
    }

    /// One socket read's messages, handled under one acquisition of the pool's lock (two
    /// sockets on two event loops contend for it; per message, the waits showed in profiles).
    private func received(_ messages: [BinanceReceivedMessage], on id: PoolConnectionID, generation: Int) {
        guard !messages.isEmpty else { return }
        // Parsed outside the lock.
        let frames = messages.map(\.frame)
        var output: [StreamPoolEvent] = []
        var cancels: [Task<Void, Never>] = []
        state.withLock { state in
            let now = Instant.now
            for (message, frame) in zip(messages, frames) {
                guard var slot = state.slots[id], slot.generation == generation else { break }
                // After a switch-over the old socket's frames are the replacement's duplicates.
                if slot.closingForGood, case .data = frame { continue }
                switch frame {
                case .data(let stream, _) where state.rotations[id] != nil || replacement(of: id, state) != nil:
                    // A rotation: both sockets carry the stream; the deduplicator delivers once.
                    _ = slot.lifecycle.frameReceived(at: now, isData: true)
                    state.slots[id] = slot
                    let isNew = state.rotations[id] != nil
                    let key = isNew ? id : replacement(of: id, state)!
                    let data = StreamMessage(stream: stream, bytes: message.bytes, receiveTimeMicroseconds: message.receiveTimeMicroseconds, connection: id.rawValue, name: state.names[stream])
                    let fingerprint = OverlapDeduplicator<String, StreamMessage>.fingerprint(of: message.bytes.readableBytesView)
                    if isNew { state.rotations[key]!.newDelivered = true } else { state.rotations[key]!.oldDelivered.insert(stream) }
                    let unproven = state.rotations[key]!.dedup.unprovenStreams.count
                    let delivered = state.rotations[key]!.dedup.receive(data, fingerprint: fingerprint, stream: stream, from: isNew ? .new : .old)
                    // Switched on a full buffer without an overlap: the gap before its frames.
                    if let gap = rotationGap(state.rotations[key]!, new: key, since: unproven, now: now) { output.append(.lifecycle(gap)) }
                    output += delivered.map { .message($0) }
                    if let name = state.names[stream], case .resumed? = state.liveness.messageReceived(name, at: now) {
                        output.append(.lifecycle(.resumed(stream: stream)))
                    }
                    // A frame from either side can complete an alignment, and so the readiness.
                    let ready = checkRotationReady(key, &state, now: now)
                    output += ready.events
                    if let cancel = ready.cancel { cancels.append(cancel) }
                    slot = state.slots[id]!
                case .data(let stream, _):
                    if let gap = slot.lifecycle.frameReceived(at: now, isData: true) {
                        let streams = state.pool.connection(id)?.streams.map(\.rawValue).sorted() ?? []
                        output.append(.lifecycle(.reconnected(connection: id.rawValue, streams: streams, gapStartMicroseconds: wall(gap.gapStart), gapEndMicroseconds: wall(gap.gapEnd))))
                    }
                    if let name = state.names[stream], case .resumed? = state.liveness.messageReceived(name, at: now) {
                        output.append(.lifecycle(.resumed(stream: stream)))
                    }
                    output.append(.message(StreamMessage(stream: stream, bytes: message.bytes, receiveTimeMicroseconds: message.receiveTimeMicroseconds, connection: id.rawValue, name: state.names[stream])))
                case .result(let requestID?, _):
                    _ = slot.lifecycle.frameReceived(at: now, isData: false)
                    if let trackerEvents = slot.tracker.replyReceived(id: requestID, outcome: .success) {
                        state.slots[id] = slot
                        // A replacement's acks do not change the streams' state: they stay the
                        // old connection's until the switch-over.
                        let overlapping = state.rotations[id].map { $0.switchedAt == nil } ?? false
                        if !overlapping { output += apply(trackerEvents, on: id, &state).map { .lifecycle($0) } }
                        let ready = checkRotationReady(id, &state, now: now)
                        output += ready.events
                        if let cancel = ready.cancel { cancels.append(cancel) }
                        slot = state.slots[id]!
                    }
                case .error(let requestID?, let code, let text):
                    _ = slot.lifecycle.frameReceived(at: now, isData: false)
                    if let trackerEvents = slot.tracker.replyReceived(id: requestID, outcome: .error(code: code, message: text)) {
                        state.slots[id] = slot
                        output += apply(trackerEvents, on: id, &state).map { .lifecycle($0) }
                        slot = state.slots[id]!
                    }
                case .unrecognized(let reason):
                    _ = slot.lifecycle.frameReceived(at: now, isData: false)
                    state.unrecognizedFrames += 1
                    output.append(.lifecycle(.unrecognizedFrame(connection: id.rawValue, reason: reason)))
                case .result(nil, _), .error(nil, _, _):
                    _ = slot.lifecycle.frameReceived(at: now, isData: false)
                    state.unrecognizedFrames += 1
                    logger.debug("frame skipped", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.frame": "\(frame)"])
                }
                state.slots[id] = slot
            }
            // Yielded under the lock: two sockets (a rotation's old and new) are read on
            // different threads, and delivery must follow the order of the decisions above.
            // The consumer is woken when the socket read ends (`onReadComplete`), not per frame.
            for event in output { events.yield(event, wake: false) }
        }
        for cancel in cancels { cancel.cancel() }
        if output.contains(where: { if case .lifecycle = $0 { true } else { false } }) { wake.signal() }
    }

    private func ended(_ id: PoolConnectionID, generation: Int, reason: String) {
        var output: [StreamPoolLifecycleEvent] = []
        var handover: [StreamPoolEvent] = []
        var abandonedTask: Task<Void, Never>?
        state.withLock { state in
            // Yielded under the lock, in order with every other event (see `received`).
            defer {
                for event in output { events.yield(.lifecycle(event)) }
                for event in handover { events.yield(event) }
            }
            guard var slot = state.slots[id], slot.generation == generation else { return }
            let wasOpen = slot.writer != nil
            slot.writer = nil
            slot.task = nil
            if wasOpen { output.append(.connectionClosed(connection: id.rawValue, reason: reason)) }
            if slot.closingForGood || state.closed {
                forget(id, &state)
                return
            }
            if let rotation = state.rotations[id], rotation.switchedAt == nil {
                // The replacement died before the switch-over: abandon it; the old connection
                // carries on and tries again later.
                state.slots[id] = slot
                if let gap = abandonRotation(of: rotation.old, &state, now: .now).gap { output.append(gap) }
                state.slots[rotation.old]?.lifecycle.replacementFailed(at: .now)
                forget(id, &state)
                return
            }
            if let new = subscribedReplacement(of: id, state) {
                // The old connection dropped (Binance's 24 h close comes here when the
                // switch is late) with its replacement subscribed: switch now rather than
                // reconnect; streams the two never overlapped on get a rotation gap.
                state.slots[id] = slot
                handover = switchOver(from: id, &state, now: .now).events
                forget(id, &state)
                logger.notice("connection dropped mid-rotation: switched to its replacement", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.replacement": "\(new.rawValue)"])
                return
            }
            let actions = slot.lifecycle.closed(at: .now, unitRandom: Double.random(in: 0..<1))
            if actions.contains(.cancelReplacement) {
                // The old connection dropped first: its replacement is abandoned and it
                // reconnects, reporting the gap window.
                state.slots[id] = slot
                let abandoned = abandonRotation(of: id, &state, now: .now)
                abandonedTask = abandoned.cancel
                if let gap = abandoned.gap { output.append(gap) }
                slot = state.slots[id]!
            }
            let lost = state.pool.connectionLost(id, reason: "connection lost: \(reason)")
            _ = slot.tracker.connectionLost(reason: "connection lost")
            output += lost.map { .failed(stream: $0.rawValue, reason: "connection lost: \(reason)") }
            state.slots[id] = slot
        }
        abandonedTask?.cancel()
        wake.signal()
    }

    /// Applies a tracker's events to the pool's per-stream state; returns what to report.
    private func apply(_ trackerEvents: [SubscriptionRequestTracker<Instant>.Event], on id: PoolConnectionID, _ state: inout State) -> [StreamPoolLifecycleEvent] {
        var output: [StreamPoolLifecycleEvent] = []
        for event in trackerEvents {
            switch event {
            case .confirmed(let streams):
                output += state.pool.setState(.confirmed, of: streams, on: id).map { .confirmed(stream: $0.rawValue, connection: id.rawValue) }
            case .failed(let streams, let reason):
                output += state.pool.setState(.failed(reason: reason), of: streams, on: id).map { .failed(stream: $0.rawValue, reason: reason) }
            case .unsubscribed:
                break
            case .unsubscribeFailed(let streams, let reason):
                logger.warning("unsubscribe failed", metadata: ["bridge.connection": "\(id.rawValue)", "bridge.streams": "\(streams.map(\.rawValue))", "bridge.reason": "\(reason)"])
            case .refused(let streams, let reason, let willRetry):
                logger.warning(willRetry ? "subscribe refused; retrying after the ack timeout" : "subscribe refused", metadata: [
                    "bridge.connection": "\(id.rawValue)", "bridge.streams": "\(streams.map(\.rawValue))", "bridge.reason": "\(reason)",
                ])
                output.append(.subscribeRefused(streams: streams.map(\.rawValue), reason: reason, retrying: willRetry))
            }
        }
        return output
    }

    private func wall(_ instant: Instant) -> Int64 {
        epoch.wall + (instant - epoch.instant).wholeMicroseconds
    }
}

/// The messages of the socket read in progress (filled and emptied on the socket's event
/// loop, so its lock is never contended).
private final class SocketInbox: Sendable {
    private let messages = Mutex<[BinanceReceivedMessage]>([])

    func append(_ message: BinanceReceivedMessage) {
        messages.withLock { $0.append(message) }
    }

    /// What the read brought, leaving the inbox empty.
    func take() -> [BinanceReceivedMessage] {
        messages.withLock { messages in
            defer { messages.removeAll(keepingCapacity: true) }
            return messages
        }
    }
}

/// Wakes the driver loop: a signal, or a deadline, whichever comes first.
package final class WakeSignal: Sendable {
    package init() {}

    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    package func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns on a signal (also one sent before the call) or at `deadline`.
    package func wait(until deadline: ContinuousClock.Instant?) async {
        let timer = deadline.map { deadline in
            Task { [self] in
                // Only a timer that ran out signals: a cancelled one (the loop woke for
                // another reason) must not, or every wake-up would cause the next one.
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                signal()
            }
        }
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        timer?.cancel()
    }
}

/// The live SUBSCRIBE / UNSUBSCRIBE requests of one pool connection (protocol §3).
///
/// It batches the streams to (un)subscribe into requests of at most `maxStreamsPerRequest`
/// names with increasing unsigned ids, paces them through the connection's
/// ``SubscriptionMessageQuota``, matches Binance's replies by id, retries a request left
/// unanswered for `ackTimeout` (same streams, new id) up to `ackRetries` times and then
/// fails its streams, and on a reconnect resubscribes everything. A SUBSCRIBE refused with one
/// of Binance's request-error codes (0–4: the request itself is wrong, so the same request
/// fails again) fails its streams at once; any other error code is the exchange in trouble,
/// so the request is retried like an unanswered one: when its `ackTimeout` runs out (not at
/// once, which would spend every attempt within a second), while attempts remain. A retry
/// carries only the streams no newer SUBSCRIBE has taken over.
///
/// Pure: the caller parses frames (`{"result":null,"id":N}` → ``ReplyOutcome/success``,
/// `{"error":{"code":C,"msg":M},"id":N}` → ``ReplyOutcome/error(code:message:)``), passes
/// times in, and performs the returned actions. The caller's loop, under its lock:
///
/// 1. `events += tracker.expireRequests(at: now)`;
/// 2. while `tracker.nextAction(at: now, quota: &quota)` is `.send(request)`: write it;
/// 3. `.waitUntil(t)`: come back at `t` (or earlier, on a reply or a new request); `.idle`:
///    nothing to do until a new request or a reply.
///
/// A stream's reported state follows its latest request: if a stream is unsubscribed and
/// subscribed again while a request is in flight, only the last one's reply confirms it.
public struct SubscriptionRequestTracker<Instant: InstantProtocol>: Sendable
where Instant.Duration == Duration, Instant: Sendable {
    // MARK: Types

    /// A request's method.
    public enum Method: String, Sendable, Hashable {
        case subscribe = "SUBSCRIBE"
        case unsubscribe = "UNSUBSCRIBE"
    }

    /// A request to write: `{"method":"<method>","params":[<streams>],"id":<id>}`.
    public struct Request: Sendable, Equatable {
        /// Its id, unique for the tracker's whole life.
        public let id: UInt64
        /// SUBSCRIBE or UNSUBSCRIBE.
        public let method: Method
        /// The `params`, at most `maxStreamsPerRequest`.
        public let streams: [BinanceStreamName]
        /// 1 for the first send, 2 for the first retry, …
        public let attempt: Int
    }

    /// What Binance answered to a request.
    public enum ReplyOutcome: Sendable, Equatable {
        /// `{"result":null,"id":N}`.
        case success
        /// `{"error":{"code":C,"msg":M},"id":N}`.
        case error(code: Int, message: String)
    }

    /// What to do next.
    public enum Action: Sendable, Equatable {
        /// Write this request now (its quota permit is taken and its ack timer started).
        case send(Request)
        /// Nothing may be sent before this instant (pacing) or a timeout falls due then.
        case waitUntil(Instant)
        /// Nothing to send and nothing in flight.
        case idle
    }

    /// A change to report to the pool (``StreamPoolStateMachine/setState(_:of:on:)``).
    public enum Event: Sendable, Equatable {
        /// Acknowledged: the streams are `confirmed`.
        case confirmed([BinanceStreamName])
        /// Refused by Binance, unanswered after every retry, or lost with the connection.
        case failed([BinanceStreamName], reason: String)
        /// An UNSUBSCRIBE was acknowledged.
        case unsubscribed([BinanceStreamName])
        /// An UNSUBSCRIBE was refused or never answered (the socket may still carry them).
        case unsubscribeFailed([BinanceStreamName], reason: String)
        /// Binance answered a SUBSCRIBE with an error; `willRetry` when the code is not a
        /// request error and attempts remain (else ``failed(_:reason:)`` follows at once).
        case refused([BinanceStreamName], reason: String, willRetry: Bool)
    }

    /// Binance's documented WebSocket request errors (0 unknown property, 1 invalid value,
    /// 2 invalid request, 3 invalid JSON, 4 too many subscriptions): deterministic refusals.
    public static var requestErrorCodes: ClosedRange<Int> { 0...4 }

    private struct Operation: Sendable {
        var method: Method
        var streams: [BinanceStreamName]
        var attempt: Int
    }

    private struct InFlight: Sendable {
        var request: Request
        var deadline: Instant
        /// Binance's error, when it refused this request and the retry waits for `deadline`.
        var refusal: String?
    }

    // MARK: State

    /// The connection this tracker serves (its key in the message quota).
    public let connection: PoolConnectionID
    private let maxStreamsPerRequest: Int
    private let ackTimeout: Duration
    private let ackRetries: Int

    /// Streams this connection should carry: subscribed and not unsubscribed since.
    public private(set) var desiredStreams: Set<BinanceStreamName> = []
    /// Desired streams whose latest SUBSCRIBE on the current socket was acknowledged.
    public private(set) var confirmedStreams: Set<BinanceStreamName> = []
    /// Whether the socket is open (requests are only sent then).
    public private(set) var isConnected = false
    private var queue: [Operation] = []
    private var inFlight: [UInt64: InFlight] = [:]
    /// Per stream, SUBSCRIBE operations queued or in flight that have not resolved.
    private var outstandingSubscribes: [BinanceStreamName: Int] = [:]
    private var lastRequestID: UInt64

    /// A tracker for `connection`, numbering requests from `firstRequestID`.
    public init(connection: PoolConnectionID, configuration: StreamPoolConfiguration, firstRequestID: UInt64 = 1) {
        precondition(configuration.maxStreamsPerRequest > 0 && firstRequestID > 0)
        self.connection = connection
        maxStreamsPerRequest = configuration.maxStreamsPerRequest
        ackTimeout = configuration.ackTimeout
        ackRetries = configuration.ackRetries
        lastRequestID = firstRequestID - 1
    }

    /// True when every desired stream is confirmed on the current socket (a rotation's
    /// replacement is ready once this holds and it has delivered data).
    public var isFullyConfirmed: Bool { isConnected && confirmedStreams == desiredStreams }

    /// Requests in flight (sent, unanswered).
    public var inFlightCount: Int { inFlight.count }
    /// Stream names waiting to be sent.
    public var queuedStreamCount: Int { queue.reduce(0) { $0 + $1.streams.count } }

    // MARK: Requests from the pool

    /// Adds `streams` to the connection; SUBSCRIBE requests follow now if connected, else
    /// when it opens. Streams already desired are ignored.
    public mutating func subscribe(_ streams: [BinanceStreamName]) {
        let new = streams.filter { desiredStreams.insert($0).inserted }
        guard isConnected, !new.isEmpty else { return }
        enqueue(.subscribe, new)
    }

    /// Removes `streams` from the connection. A stream whose SUBSCRIBE has not been sent
    /// yet is simply dropped from the queue; others get an UNSUBSCRIBE.
    public mutating func unsubscribe(_ streams: [BinanceStreamName]) {
        let removed = Set(streams.filter { desiredStreams.remove($0) != nil })
        confirmedStreams.subtract(removed)
        guard isConnected, !removed.isEmpty else { return }
        var neverSent: Set<BinanceStreamName> = []
        for index in queue.indices where queue[index].method == .subscribe && queue[index].attempt == 1 {
            let (cancelled, kept) = queue[index].streams.partitioned { removed.contains($0) }
            queue[index].streams = kept
            neverSent.formUnion(cancelled)
        }
        queue.removeAll { $0.streams.isEmpty }
        for stream in neverSent { resolveSubscribe(stream) }
        // A SUBSCRIBE still queued is only ever preceded (first in, first out) by nothing or
        // by an UNSUBSCRIBE of the same stream, so cancelling it leaves the socket without
        // the stream. Every other removed stream may be on the socket: unsubscribe it.
        let toSend = streams.uniqued().filter { removed.contains($0) && !neverSent.contains($0) }
        if !toSend.isEmpty { enqueue(.unsubscribe, toSend) }
    }

    // MARK: Connection events

    /// The socket is open: every desired stream is queued for SUBSCRIBE, and returned (they
    /// are `pending` until acknowledged).
    @discardableResult
    public mutating func connectionOpened() -> [BinanceStreamName] {
        isConnected = true
        queue.removeAll()
        inFlight.removeAll()
        outstandingSubscribes.removeAll()
        confirmedStreams.removeAll()
        let streams = desiredStreams.sorted()
        if !streams.isEmpty { enqueue(.subscribe, streams) }
        return streams
    }

    /// The socket dropped: requests in flight and queued are forgotten, and every desired
    /// stream is reported failed with `reason` (the seed's behaviour); they are resubscribed
    /// by the next ``connectionOpened()``.
    public mutating func connectionLost(reason: String) -> [Event] {
        isConnected = false
        queue.removeAll()
        inFlight.removeAll()
        outstandingSubscribes.removeAll()
        confirmedStreams.removeAll()
        return desiredStreams.isEmpty ? [] : [.failed(desiredStreams.sorted(), reason: reason)]
    }

    // MARK: Sending

    /// The next request to write at `now`, if the quota allows one, else when to come back.
    public mutating func nextAction(
        at now: Instant,
        quota: inout SubscriptionMessageQuota<PoolConnectionID, Instant>
    ) -> Action {
        let earliestTimeout = inFlight.values.map(\.deadline).min()
        guard isConnected, !queue.isEmpty else {
            return earliestTimeout.map { .waitUntil($0) } ?? .idle
        }
        switch quota.acquire(connection, at: now) {
        case .waitUntil(let instant):
            return .waitUntil(earliestTimeout.map { min($0, instant) } ?? instant)
        case .sendNow:
            var operation = queue.removeFirst()
            if operation.streams.count > maxStreamsPerRequest {
                let rest = Array(operation.streams[maxStreamsPerRequest...])
                operation.streams.removeSubrange(maxStreamsPerRequest...)
                queue.insert(Operation(method: operation.method, streams: rest, attempt: operation.attempt), at: 0)
            }
            lastRequestID += 1
            let request = Request(id: lastRequestID, method: operation.method, streams: operation.streams, attempt: operation.attempt)
            inFlight[request.id] = InFlight(request: request, deadline: now.advanced(by: ackTimeout))
            return .send(request)
        }
    }

    // MARK: Replies and timeouts

    /// Matches a reply by `id`. Nil when no request in flight has that id (a reply after
    /// its timeout, or not ours): log and ignore it.
    public mutating func replyReceived(id: UInt64, outcome: ReplyOutcome) -> [Event]? {
        // Unknown, or refused already and waiting for its retry: not a reply to act on.
        guard let entry = inFlight[id], entry.refusal == nil else { return nil }
        inFlight[id] = nil
        let request = entry.request
        switch (request.method, outcome) {
        case (.subscribe, .success):
            let confirmed = request.streams.filter { resolveSubscribe($0) && desiredStreams.contains($0) }
            confirmedStreams.formUnion(confirmed)
            return confirmed.isEmpty ? [] : [.confirmed(confirmed)]
        case (.subscribe, .error(let code, let message)) where !Self.requestErrorCodes.contains(code) && request.attempt <= ackRetries:
            // Kept until its deadline, then retried by expireRequests. It no longer decides its
            // streams' state (resolved now), so a newer SUBSCRIBE's ack confirms them meanwhile.
            let reason = "Binance error \(code): \(message)"
            for stream in request.streams { resolveSubscribe(stream) }
            inFlight[id] = InFlight(request: request, deadline: entry.deadline, refusal: reason)
            let wanted = request.streams.filter { desiredStreams.contains($0) }
            return wanted.isEmpty ? [] : [.refused(wanted, reason: reason, willRetry: true)]
        case (.subscribe, .error(let code, let message)):
            let reason = "Binance error \(code): \(message)"
            let refused = request.streams.filter { desiredStreams.contains($0) }
            let failed = request.streams.filter { resolveSubscribe($0) && desiredStreams.contains($0) }
            confirmedStreams.subtract(failed)
            return (refused.isEmpty ? [] : [.refused(refused, reason: reason, willRetry: false)]) + (failed.isEmpty ? [] : [.failed(failed, reason: reason)])
        case (.unsubscribe, .success):
            return [.unsubscribed(request.streams)]
        case (.unsubscribe, .error(let code, let message)):
            return [.unsubscribeFailed(request.streams, reason: "Binance error \(code): \(message)")]
        }
    }

    /// Requests unanswered at `now` (sent `ackTimeout` ago or more): retried with a new id
    /// ahead of the queue while attempts remain, else their streams are failed.
    public mutating func expireRequests(at now: Instant) -> [Event] {
        let expired = inFlight.values.filter { $0.deadline <= now }.sorted { $0.request.id > $1.request.id }
        var events: [Event] = []
        for entry in expired {  // newest first, so that re-inserting at the front keeps id order
            let request = entry.request
            inFlight[request.id] = nil
            if entry.refusal != nil {
                // Refused earlier (its streams resolved then): the streams still wanted that
                // nothing newer holds go again, counted as outstanding anew.
                let retry = request.streams.filter { desiredStreams.contains($0) && !isHeldElsewhere($0) }
                if !retry.isEmpty {
                    for stream in retry { outstandingSubscribes[stream, default: 0] += 1 }
                    queue.insert(Operation(method: .subscribe, streams: retry, attempt: request.attempt + 1), at: 0)
                }
                continue
            }
            var stillWanted = request.streams.filter { request.method == .subscribe ? desiredStreams.contains($0) : !desiredStreams.contains($0) }
            if request.method == .subscribe, request.attempt <= ackRetries {
                // A stream subscribed again since (its newer SUBSCRIBE queued or in flight)
                // is that request's now: retrying this one too could put it back on the
                // socket after it is unsubscribed, behind the queue's order.
                let superseded = Set(stillWanted.filter { (outstandingSubscribes[$0] ?? 0) > 1 })
                for stream in superseded { resolveSubscribe(stream) }
                stillWanted.removeAll { superseded.contains($0) }
            }
            if request.attempt <= ackRetries {
                if !stillWanted.isEmpty {
                    queue.insert(Operation(method: request.method, streams: stillWanted, attempt: request.attempt + 1), at: 0)
                }
                if request.method == .subscribe {
                    for stream in request.streams where !desiredStreams.contains(stream) { resolveSubscribe(stream) }
                }
                continue
            }
            let reason = entry.refusal.map { "\($0) (after \(request.attempt) attempts)" }
                ?? "no reply to \(request.method.rawValue) within \(ackTimeout) after \(request.attempt) attempts"
            switch request.method {
            case .subscribe:
                let failed = request.streams.filter { resolveSubscribe($0) && desiredStreams.contains($0) }
                confirmedStreams.subtract(failed)
                if !failed.isEmpty { events.append(.failed(failed, reason: reason)) }
            case .unsubscribe:
                if !stillWanted.isEmpty { events.append(.unsubscribeFailed(stillWanted, reason: reason)) }
            }
        }
        return events.reversed()
    }

    /// The next instant at which ``expireRequests(at:)`` has work, if any request is in flight.
    public var nextTimeout: Instant? { inFlight.values.map(\.deadline).min() }

    // MARK: Helpers

    /// Whether `stream` is confirmed, or in a SUBSCRIBE queued or in flight (not refused).
    private func isHeldElsewhere(_ stream: BinanceStreamName) -> Bool {
        confirmedStreams.contains(stream)
            || queue.contains { $0.method == .subscribe && $0.streams.contains(stream) }
            || inFlight.values.contains { $0.refusal == nil && $0.request.method == .subscribe && $0.request.streams.contains(stream) }
    }

    private mutating func enqueue(_ method: Method, _ streams: [BinanceStreamName]) {
        if method == .subscribe {
            for stream in streams { outstandingSubscribes[stream, default: 0] += 1 }
        }
        if let last = queue.indices.last, queue[last].method == method, queue[last].attempt == 1 {
            queue[last].streams += streams
        } else {
            queue.append(Operation(method: method, streams: streams, attempt: 1))
        }
    }

    /// Resolves one outstanding SUBSCRIBE of `stream`; true when it was the last one, so
    /// its outcome is the stream's state.
    @discardableResult
    private mutating func resolveSubscribe(_ stream: BinanceStreamName) -> Bool {
        guard let count = outstandingSubscribes[stream] else { return false }
        if count <= 1 {
            outstandingSubscribes[stream] = nil
            return true
        }
        outstandingSubscribes[stream] = count - 1
        return false
    }
}

extension Array {
    /// The elements matching `predicate` and the others, each in order.
    func partitioned(by predicate: (Element) -> Bool) -> (matching: [Element], others: [Element]) {
        var matching: [Element] = []
        var others: [Element] = []
        for element in self {
            if predicate(element) { matching.append(element) } else { others.append(element) }
        }
        return (matching, others)
    }
}

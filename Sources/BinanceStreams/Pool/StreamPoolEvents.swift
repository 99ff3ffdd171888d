import NIOCore
import Synchronization

/// The pool's output: one merged, bounded sequence of events from every connection.
///
/// Overflow policy **drop oldest message**: when `capacity` messages are waiting, the oldest
/// waiting *message* is discarded and counted per stream, and the consumer receives
/// `.dropped(stream:count:)` before the next event, so the loss is visible exactly where it
/// happened. Lifecycle events are never dropped (there are a bounded number per connection and
/// stream, far fewer than messages). Producers never wait: a slow consumer costs memory up to
/// the bound, never a blocked socket read.
///
/// One consumer, in one of two ways: iterating (or ``nextBatch()``), where each socket read
/// wakes the consuming task; or ``drain(_:)``, where the thread that ends a socket read
/// (``flush()``) runs the consumer's code on what is ready itself, so data reaches the
/// consumer without a thread switch. Consuming twice at once is a programming error.
public final class StreamPoolEvents: AsyncSequence, Sendable {
    public typealias Element = StreamPoolEvent
    /// A consumer run by ``drain(_:)`` on the thread that hands events over.
    public typealias Drain = @Sendable ([StreamPoolEvent]) -> Void

    private struct State {
        var queue = CircularBuffer<StreamPoolEvent>()
        var messages = 0
        /// Drops not yet reported, in the order streams first lost a message.
        var dropped: [(stream: String, count: Int)] = []
        var waiter: CheckedContinuation<StreamPoolEvent?, Never>?
        var finished = false
        var totalDropped = 0
        /// The ``drain(_:)`` consumer, while it runs.
        var drain: Drain?
        /// A thread is running `drain` now (one at a time: that keeps the order).
        var draining = false
        /// A task is on its way to run `drain` (see ``yield(_:wake:)``).
        var drainScheduled = false
        /// ``drain(_:)``'s caller, resumed once finished and drained (or cancelled).
        var drainDone: CheckedContinuation<Void, Never>?
    }

    /// Messages held at most before the oldest is dropped.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Messages dropped since creation (for metrics).
    public var droppedCount: Int { state.withLock { $0.totalDropped } }

    /// Events waiting (messages and lifecycle).
    public var bufferedCount: Int { state.withLock { $0.queue.count } }

    /// Adds an event; never blocks. Ignored after ``finish()``.
    ///
    /// - Parameter wake: whether a waiting consumer is woken now. A socket read delivers its
    ///   frames with `wake: false`, one by one, and ends with ``flush()``: the consumer wakes
    ///   once per read instead of once per frame (each wake is a thread switch, which costs
    ///   more than normalizing the frame).
    public func yield(_ event: StreamPoolEvent, wake: Bool = true) {
        let (resumed, startDrain) = state.withLock { state -> ((CheckedContinuation<StreamPoolEvent?, Never>, StreamPoolEvent)?, Bool) in
            guard !state.finished else { return (nil, false) }
            if case .message = event {
                if state.messages >= capacity { Self.dropOldestMessage(&state) }
                state.messages += 1
            }
            state.queue.append(event)
            guard wake else { return (nil, false) }
            // A drain consumer is not run here: the pool yields under its own lock, and the
            // consumer's code must not run inside it. A waking event is rare (lifecycle), so a
            // task runs the drain instead (one such task at a time: a rotation's switch-over
            // yields thousands of frames); frames wait for their read's `flush()`.
            let startDrain = state.drain != nil && !state.draining && !state.drainScheduled
            if startDrain { state.drainScheduled = true }
            return (Self.resumable(&state), startDrain)
        }
        if let (waiter, event) = resumed { waiter.resume(returning: event) }
        if startDrain {
            Task {
                self.state.withLock { $0.drainScheduled = false }
                self.runDrain()
            }
        }
    }

    /// Hands over what is ready: wakes a waiting consumer, or runs a ``drain(_:)`` consumer
    /// on this thread (the end of a socket read; call it outside any lock the consumer's code
    /// might take).
    public func flush() {
        let resumed = state.withLock { Self.resumable(&$0) }
        if let (waiter, event) = resumed { waiter.resume(returning: event) }
        runDrain()
    }

    /// Consumes every event by running `body` on batches of them (up to ``batchLimit``, in
    /// order, one batch at a time) on the thread that hands them over — the one ending a
    /// socket read, or one calling ``finish()`` — and returns once finished and drained, or
    /// when the calling task is cancelled. `body` must not block.
    public func drain(_ body: @escaping Drain) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.drain = body
                    state.drainDone = continuation
                    return false
                }
                if cancelled { continuation.resume() } else { runDrain() }
            }
        } onCancel: {
            let done = state.withLock { state in
                state.drain = nil
                defer { state.drainDone = nil }
                return state.drainDone
            }
            done?.resume()
        }
    }

    /// Runs the drain consumer on what is ready, unless another thread is running it (that
    /// one picks up what arrived meanwhile before it stops).
    private func runDrain() {
        enum Next { case run(Drain, [StreamPoolEvent]), stop(CheckedContinuation<Void, Never>?) }
        func next(_ state: inout State) -> Next {
            guard let drain = state.drain else { return .stop(nil) }
            if let batch = Self.takeBatch(&state, limit: Self.batchLimit) { return .run(drain, batch) }
            state.draining = false
            guard state.finished else { return .stop(nil) }
            // Finished and drained: the consumer is done.
            state.drain = nil
            defer { state.drainDone = nil }
            return .stop(state.drainDone)
        }
        var step = state.withLock { state -> Next in
            guard state.drain != nil, !state.draining else { return .stop(nil) }
            state.draining = true
            return next(&state)
        }
        while case .run(let drain, let batch) = step {
            drain(batch)
            step = state.withLock { next(&$0) }
        }
        if case .stop(let done?) = step { done.resume() }
    }

    /// The waiting consumer and the event to hand it (the oldest ready), if both exist.
    private static func resumable(_ state: inout State) -> (CheckedContinuation<StreamPoolEvent?, Never>, StreamPoolEvent)? {
        guard let waiter = state.waiter, case .some(let ready?) = take(&state) else { return nil }
        state.waiter = nil
        return (waiter, ready)
    }

    private static func dropOldestMessage(_ state: inout State) {
        // Lifecycle events ahead of it are kept: usually none or a few, so the scan is short.
        guard let index = state.queue.firstIndex(where: { if case .message = $0 { true } else { false } }) else { return }
        // O(1) in the common case (a message at the head); remove(at:) shifts the rest.
        let removed = index == state.queue.startIndex ? state.queue.removeFirst() : state.queue.remove(at: index)
        guard case .message(let message) = removed else { return }
        state.messages -= 1
        state.totalDropped += 1
        if let slot = state.dropped.firstIndex(where: { $0.stream == message.stream }) {
            state.dropped[slot].count += 1
        } else {
            state.dropped.append((message.stream, 1))
        }
    }

    /// Ends the sequence once what is buffered has been read (a ``drain(_:)`` consumer gets
    /// the rest on this thread).
    public func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
        runDrain()
    }

    /// The next event, or nil once finished and drained (or when the task is cancelled).
    func next() async -> StreamPoolEvent? {
        if let ready = state.withLock({ Self.take(&$0) }) { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: StreamPoolEvent?? = state.withLock { state in
                    if let ready = Self.take(&state) { return .some(ready) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// The next event to hand out: pending drop reports first, then the queue. `.some(nil)`
    /// means finished and drained; `nil` means the consumer must wait.
    private static func take(_ state: inout State) -> StreamPoolEvent?? {
        if !state.dropped.isEmpty {
            let first = state.dropped.removeFirst()
            return .some(.dropped(stream: first.stream, count: first.count))
        }
        if let event = state.queue.popFirst() {
            if case .message = event { state.messages -= 1 }
            return .some(event)
        }
        return state.finished ? .some(nil) : nil
    }

    /// Takes up to `limit` ready events under one lock (drop reports first), or nil when
    /// none is ready. The consumer then works through them without touching the lock, and
    /// producers append meanwhile without waking it: one lock and at most one wake-up per
    /// batch instead of per message, at up to `limit` events held outside the bound.
    fileprivate func takeBatch(limit: Int) -> [StreamPoolEvent]? {
        state.withLock { Self.takeBatch(&$0, limit: limit) }
    }

    private static func takeBatch(_ state: inout State, limit: Int) -> [StreamPoolEvent]? {
        guard !state.dropped.isEmpty || !state.queue.isEmpty else { return nil }
        var batch: [StreamPoolEvent] = []
        batch.reserveCapacity(Swift.min(limit, state.dropped.count + state.queue.count))
        while batch.count < limit, !state.dropped.isEmpty {
            let first = state.dropped.removeFirst()
            batch.append(.dropped(stream: first.stream, count: first.count))
        }
        while batch.count < limit, let event = state.queue.popFirst() {
            if case .message = event { state.messages -= 1 }
            batch.append(event)
        }
        return batch
    }

    /// The next events, up to ``batchLimit`` taken under one lock, waiting for at least one;
    /// nil once finished and drained (or when the task is cancelled). A consumer that works
    /// per batch (one publish per batch) uses this instead of iterating.
    public func nextBatch() async -> [StreamPoolEvent]? {
        if let ready = takeBatch(limit: Self.batchLimit) { return ready }
        guard let first = await next() else { return nil }
        var batch = [first]
        if let more = takeBatch(limit: Self.batchLimit - 1) { batch += more }
        return batch
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let events: StreamPoolEvents
        private var batch: [StreamPoolEvent] = []
        private var position = 0

        init(events: StreamPoolEvents) {
            self.events = events
        }

        public mutating func next() async -> StreamPoolEvent? {
            if position < batch.count {
                defer { position += 1 }
                return batch[position]
            }
            if let ready = events.takeBatch(limit: StreamPoolEvents.batchLimit) {
                batch = ready
                position = 1
                return batch[0]
            }
            return await events.next()
        }
    }

    /// Events a consumer takes per lock (see ``takeBatch(limit:)``).
    public static let batchLimit = 256

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(events: self) }
}

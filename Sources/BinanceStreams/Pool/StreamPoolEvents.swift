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
/// One consumer: iterating twice at once is a programming error.
public final class StreamPoolEvents: AsyncSequence, Sendable {
    public typealias Element = StreamPoolEvent

    private struct State {
        var queue = CircularBuffer<StreamPoolEvent>()
        var messages = 0
        /// Drops not yet reported, in the order streams first lost a message.
        var dropped: [(stream: String, count: Int)] = []
        var waiter: CheckedContinuation<StreamPoolEvent?, Never>?
        var finished = false
        var totalDropped = 0
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
    public func yield(_ event: StreamPoolEvent) {
        let resumed: (CheckedContinuation<StreamPoolEvent?, Never>, StreamPoolEvent)? = state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, event)
            }
            if case .message = event {
                if state.messages >= capacity { Self.dropOldestMessage(&state) }
                state.messages += 1
            }
            state.queue.append(event)
            return nil
        }
        if let (waiter, event) = resumed { waiter.resume(returning: event) }
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

    /// Ends the sequence once what is buffered has been read.
    public func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
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
        state.withLock { state in
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
    static let batchLimit = 256

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(events: self) }
}

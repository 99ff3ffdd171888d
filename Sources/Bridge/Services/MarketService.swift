import BinanceStreams
import BridgeCore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// One market's data path: runs its ``BinanceStreamPool`` and turns everything the pool
/// reports into entries — data through the ``MarketDataNormalizer``, lifecycle changes into
/// `gap` / `status` markers and events — for the ``EntryPublisher``.
///
/// On graceful shutdown the pool is closed; its event sequence ends after what it buffered,
/// so every frame already read is normalized and handed to the publisher before `run` returns.
public final class MarketService: Service, Sendable {
    public let market: BinanceMarket
    public let pool: BinanceStreamPool
    private let publisher: EntryPublisher
    private let instruments: InstrumentCache
    private let events: BridgeEvents
    private let logger: Logger
    private let state = Mutex(State())
    /// The market's local order books (nil when no symbol keeps one).
    public let books: BookKeeper?

    /// Per-stream bookkeeping for markers.
    private struct State {
        /// Last data frame per stream, µs (start of a stale window).
        var lastReceive: [String: Int64] = [:]
        /// Streams whose `subscribed` marker is written (once per subscription).
        var announced: Set<String> = []
        /// Stale streams: when their data stopped.
        var staleSince: [String: Int64] = [:]
        /// Unsubscribed streams: frames still in flight are dropped, so the `unsubscribed`
        /// marker stays the stream's last entry.
        var ended: Set<String> = []
        var messagesIn = 0
        var badFrames = 0
        var gaps = 0
    }

    /// Counters since start.
    public struct Statistics: Sendable, Equatable {
        public var messagesIn: Int
        public var badFrames: Int
        public var gaps: Int
    }

    /// `binance_bridge_messages_in_total{market,type}`, one per stream kind (made up front:
    /// a lookup per message, no allocation).
    private let messagesByKind: [BinanceStreamKind: Metrics.Counter]
    private let bytesCounter: Metrics.Counter
    private let badFrameCounter: Metrics.Counter

    public init(pool: BinanceStreamPool, publisher: EntryPublisher, instruments: InstrumentCache, events: BridgeEvents, books: BookKeeper? = nil, logger: Logger) {
        market = pool.market
        self.pool = pool
        self.books = books
        self.publisher = publisher
        self.instruments = instruments
        self.events = events
        self.logger = logger
        var byKind: [BinanceStreamKind: Metrics.Counter] = [:]
        for kind in BinanceStreamKind.allCases {
            byKind[kind] = Metrics.Counter(label: "binance_bridge_messages_in_total", dimensions: [("market", pool.market.rawValue), ("type", kind.settingName)])
        }
        messagesByKind = byKind
        bytesCounter = Metrics.Counter(label: "binance_bridge_bytes_in_total", dimensions: [("market", pool.market.rawValue)])
        badFrameCounter = Metrics.Counter(label: "binance_bridge_bad_frames_total", dimensions: [("market", pool.market.rawValue)])
    }

    public var statistics: Statistics {
        let bookGaps = books.map { $0.statistics.gapMarkers } ?? 0
        return state.withLock { Statistics(messagesIn: $0.messagesIn, badFrames: $0.badFrames, gaps: $0.gaps + bookGaps) }
    }

    /// Subscribes `streams` on the pool (all-or-nothing, as the pool does); their frames are
    /// welcome again if they were unsubscribed before.
    public func subscribe(_ streams: [BinanceStreamName]) throws -> BinanceStreamPool.SubscribeResult {
        state.withLock { state in
            for stream in streams { state.ended.remove(stream.rawValue) }
        }
        return try pool.subscribe(streams.map(\.rawValue))
    }

    /// Unsubscribes `streams`; each one removed gets its `unsubscribed` marker as its last
    /// entry (frames of it still in flight are dropped).
    public func unsubscribe(_ streams: [BinanceStreamName]) throws -> BinanceStreamPool.UnsubscribeResult {
        let result = try pool.unsubscribe(streams.map(\.rawValue))
        let removed = Set(result.removed)
        unsubscribed(streams.filter { removed.contains($0.rawValue) })
        return result
    }

    private func unsubscribed(_ streams: [BinanceStreamName]) {
        // Diffs a book still held go out before the marker, which stays the last entry.
        books?.remove(streams.map(\.rawValue))
        let now = WallClock.microseconds()
        var entries = streams.map { StreamEntry.status(stream: $0, .unsubscribed, timeMicroseconds: now) }
        state.withLock { state in
            for stream in streams {
                state.ended.insert(stream.rawValue)
                state.announced.remove(stream.rawValue)
                state.staleSince[stream.rawValue] = nil
                state.lastReceive[stream.rawValue] = nil
            }
            // Under the lock ``publish(_:)`` takes: entries of these streams made before are
            // either written already or filtered out there.
            publisher.enqueue(&entries)
        }
        for stream in streams {
            events.publish(type: "unsubscribed", market: market, ["stream": JSONValue(stream.rawValue)])
        }
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                await withGracefulShutdownHandler {
                    await self.pool.run()
                } onGracefulShutdown: {
                    self.pool.close()
                }
            }
            group.addTask { await self.consume() }
        }
    }

    // MARK: Consuming the pool

    /// Consumes the pool's events where they are handed over: on the event loop that ended
    /// the socket read (or the task that yielded a lifecycle event), a batch at a time, in
    /// order. Each batch's entries reach the publisher in one go, with no switch to another
    /// thread between the socket and the publisher's buffer.
    private func consume() async {
        await pool.events.drain { batch in self.process(batch) }
    }

    /// One batch of pool events into entries for the publisher.
    private func process(_ batch: [StreamPoolEvent]) {
        var entries: [StreamEntry] = []
        entries.reserveCapacity(batch.count)
        // One read per batch of the instrument snapshot (a reload swaps it).
        let precisions = instruments.precisions
        for event in batch {
            switch event {
            case .message(let message):
                handle(message, precisions: precisions, into: &entries)
            case .dropped(let stream, let count):
                droppedByPool(stream, count, into: &entries)
            case .lifecycle(let change):
                lifecycle(change, into: &entries)
            }
        }
        publish(&entries)
    }

    /// Hands `entries` to the publisher, less those of streams unsubscribed since they were
    /// made: under the same lock as ``unsubscribed(_:)``, so its marker stays each stream's
    /// last entry.
    private func publish(_ entries: inout [StreamEntry]) {
        guard !entries.isEmpty else { return }
        state.withLock { state in
            if !state.ended.isEmpty {
                entries.removeAll { state.ended.contains($0.stream) && $0.market == market }
            }
            publisher.enqueue(&entries)
        }
    }

    /// A stream named in a lifecycle event (rare: parsed each time; frames carry theirs).
    private func parsed(_ stream: String) -> BinanceStreamName? {
        try? BinanceStreamName(stream, market: market)
    }

    private func handle(_ message: StreamMessage, precisions: InstrumentPrecisions, into entries: inout [StreamEntry]) {
        let wanted = state.withLock { state -> Bool in
            state.messagesIn += 1
            if state.ended.contains(message.stream) { return false }
            state.lastReceive[message.stream] = message.receiveTimeMicroseconds
            return true
        }
        bytesCounter.increment(by: Int64(message.bytes.readableBytes))
        let name = message.name ?? parsed(message.stream)
        if let name { messagesByKind[name.type.kind]?.increment() }
        guard wanted, let stream = name else { return }
        let normalizer = MarketDataNormalizer(instruments: precisions)
        let booked = books.map { $0.isBooked(stream) } ?? false
        do {
            try message.bytes.withUnsafeReadableBytes { bytes throws(NormalizationError) in
                let first = entries.count
                try normalizer.normalize(frame: bytes, stream: stream, receiveTimeMicroseconds: message.receiveTimeMicroseconds, into: &entries)
                // A booked stream's update goes through its book, which writes it in order
                // with the book's snapshots and markers; entries made before it (a `resumed`
                // marker, a gap) go out first.
                if booked, let books, entries.count == first + 1 {
                    let entry = entries.removeLast()
                    publish(&entries)
                    books.diff(frame: bytes, entry: entry, stream: stream, receive: message.receiveTimeMicroseconds)
                }
            }
        } catch {
            badFrame(["stream": JSONValue(message.stream)], reason: error.reason)
        }
    }

    /// A frame skipped because it does not parse: counted, logged, and an `error` event.
    private func badFrame(_ details: [String: JSONValue], reason: String) {
        state.withLock { $0.badFrames += 1 }
        badFrameCounter.increment()
        logger.debug("skipping a frame that does not parse", metadata: ["bridge.frame": "\(details)", "bridge.error": "\(reason)"])
        var fields = details
        fields["code"] = "bad_frame"
        fields["message"] = JSONValue(reason)
        events.publish(type: "error", market: market, fields)
    }

    private func droppedByPool(_ stream: String, _ count: Int, into entries: inout [StreamEntry]) {
        let now = WallClock.microseconds()
        let since = state.withLock { $0.lastReceive[stream] } ?? now
        guard let name = parsed(stream) else { return }
        entries.append(.gap(stream: name, reason: .overflow, startMicroseconds: since, endMicroseconds: now, timeMicroseconds: now, details: ["dropped": Int64(count)]))
        gap(stream, .overflow, since, now, extra: ["dropped": JSONValue(count)])
        books?.interrupted([stream])
    }

    private func gap(_ stream: String, _ reason: GapReason, _ start: Int64, _ end: Int64, extra: [String: JSONValue] = [:]) {
        state.withLock { $0.gaps += 1 }
        events.gap(market: market, stream: stream, reason: reason, start: start, end: end, extra)
    }

    /// A `gap` marker in each of `streams` (still wanted) and its event.
    private func gaps(_ streams: [String], _ reason: GapReason, _ start: Int64, _ end: Int64, _ now: Int64, into entries: inout [StreamEntry]) {
        let wanted = state.withLock { state in streams.filter { !state.ended.contains($0) } }
        for name in wanted.compactMap(parsed) {
            entries.append(.gap(stream: name, reason: reason, startMicroseconds: start, endMicroseconds: end, timeMicroseconds: now))
            gap(name.rawValue, reason, start, end)
        }
    }

    private func lifecycle(_ change: StreamPoolLifecycleEvent, into entries: inout [StreamEntry]) {
        let now = WallClock.microseconds()
        switch change {
        case .connectionOpened(let connection, let route):
            events.publish(type: "connection_opened", market: market, ["connection": JSONValue(connection), "route": JSONValue(route.rawValue)])
        case .connectionClosed(let connection, let reason):
            events.publish(type: "connection_closed", market: market, ["connection": JSONValue(connection), "reason": JSONValue(reason)])
        case .reconnected(let connection, let streams, let start, let end):
            Metrics.Counter(label: "binance_bridge_reconnects_total", dimensions: [("market", market.rawValue)]).increment()
            events.publish(type: "reconnected", market: market, [
                "connection": JSONValue(connection), "streams": JSONValue(streams), "gap_start_us": JSONValue(start), "gap_end_us": JSONValue(end),
            ])
            gaps(streams, .reconnect, start, end, now, into: &entries)
            books?.interrupted(streams)
        case .rotationGap(_, _, let streams, let start, let end):
            gaps(streams, .rotation, start, end, now, into: &entries)
            books?.interrupted(streams)
        case .rotated(let connection, let replacement, let streams):
            Metrics.Counter(label: "binance_bridge_rotations_total", dimensions: [("market", market.rawValue)]).increment()
            events.publish(type: "rotation", market: market, ["connection": JSONValue(connection), "replacement": JSONValue(replacement), "streams": JSONValue(streams.count)])
        case .confirmed(let stream, let connection):
            let first = state.withLock { $0.announced.insert(stream).inserted }
            guard first, let name = parsed(stream) else { return }
            entries.append(.status(stream: name, .subscribed, timeMicroseconds: now))
            events.publish(type: "subscribed", market: market, ["stream": JSONValue(stream), "connection": JSONValue(connection)])
        case .failed(let stream, let reason):
            events.publish(type: "error", market: market, ["code": "subscription_failed", "stream": JSONValue(stream), "message": JSONValue(reason)])
        case .subscribeRefused(let streams, let reason, let retrying):
            Metrics.Counter(label: "binance_bridge_subscribe_refusals_total", dimensions: [("market", market.rawValue)]).increment()
            events.publish(type: "error", market: market, [
                "code": "subscribe_refused", "streams": JSONValue(streams), "message": JSONValue(reason), "retrying": JSONValue(retrying),
            ])
        case .stale(let stream, let silent):
            state.withLock { state in state.staleSince[stream] = state.lastReceive[stream] ?? (now - silent) }
            guard let name = parsed(stream) else { return }
            entries.append(.status(stream: name, .stale, timeMicroseconds: now, details: ["silent_for_us": silent]))
            events.publish(type: "stale", market: market, ["stream": JSONValue(stream), "silent_for_us": JSONValue(silent)])
        case .unrecognizedFrame(let connection, let reason):
            badFrame(["connection": JSONValue(connection)], reason: reason)
        case .resumed(let stream):
            let since = state.withLock { $0.staleSince.removeValue(forKey: stream) }
            guard let name = parsed(stream) else { return }
            // The data since the stream fell silent may be missing: a `stale` gap, then
            // the `resumed` status, both before the first frame that follows.
            // The pool reports `resumed` just before the frame that ended the silence.
            let start = since ?? now
            let end = now
            entries.append(.gap(stream: name, reason: .stale, startMicroseconds: start, endMicroseconds: end, timeMicroseconds: now))
            entries.append(.status(stream: name, .resumed, timeMicroseconds: now))
            gap(stream, .stale, start, end)
            events.publish(type: "resumed", market: market, ["stream": JSONValue(stream)])
        }
    }
}

import BridgeCore
import Logging
import Metrics
import NIOCore
import Synchronization

/// The local order books of one market's diff-depth streams (Redis contract §2, "Order
/// books"): each stream with books enabled for its symbol is synchronised by
/// ``OrderBookSync`` from a REST snapshot (``DepthSnapshotFetcher``) and its diffs, kept as
/// a fixed-point ``OrderBook``, and written out as entries:
///
/// - a `depth_snapshot` (source `rest`) and then every `depth_update` from the one that
///   covers it, after each sync; updates held while waiting follow the snapshot, the stale
///   ones (`final_update_id` < `last_update_id`) included, so no message is lost;
/// - a `gap` marker with `reason=sequence` when `pu` breaks the chain, and a resync of that
///   stream alone; an `overflow` gap when the held updates exceed `books.buffer_events`;
/// - optionally a `depth_snapshot` (source `book`) every N updates or seconds.
///
/// Entries of booked streams are handed to the publisher here, under the books' lock, so a
/// snapshot arriving on the fetcher's task can never be written out of order with the diffs.
public final class BookKeeper: DepthSnapshotConsumer, Sendable {
    public let market: BinanceMarket
    private let settings: BridgeConfiguration.Books
    private let fetcher: DepthSnapshotFetcher
    private let publisher: EntryPublisher
    private let events: BridgeEvents
    private let instruments: InstrumentCache
    private let logger: Logger
    private let state = Mutex(State())

    /// A held diff: its entry (written when the book syncs) and its levels.
    struct Pending: Sendable {
        var entry: StreamEntry
        var diff: DepthDiff
        var receive: Int64
    }

    struct Book: Sendable {
        let stream: BinanceStreamName
        let symbol: String
        let scale: BookScale
        var sync: OrderBookSync<Pending>
        var book: OrderBook
        var written = WrittenDecimals()
        /// A snapshot newer than every held diff (``OrderBookSync/Phase/holdingSnapshot(lastUpdateId:)``).
        var heldSnapshot: (snapshot: DepthSnapshot, receivedAt: Int64)?
        /// When the last diff was applied, µs: the start of a sequence gap's window.
        var lastApplied: Int64?
        var updatesSinceSnapshot = 0
        var lastSnapshotWritten: Int64 = 0
        var syncs = 0
    }

    struct State: Sendable {
        var books: [String: Book] = [:]
        var statistics = Statistics()
    }

    /// Counters since start (all books of the market).
    public struct Statistics: Sendable, Equatable {
        /// Books that reached sync (first syncs and resyncs).
        public var syncs = 0
        /// `pu` breaks.
        public var sequenceGaps = 0
        /// Held diffs dropped for the buffer bound.
        public var overflowDropped = 0
        /// `depth_snapshot` entries written.
        public var snapshotsWritten = 0
        /// Snapshots that were older than the held diffs (asked for again).
        public var snapshotsTooOld = 0
        /// Diffs or snapshots whose levels did not fit the book's scale.
        public var badMessages = 0
    }

    /// One book's state, for `status` and the tests.
    public struct BookStatus: Sendable, Equatable {
        public var stream: String
        public var synced: Bool
        public var lastUpdateId: Int64
        public var checksum: UInt64
        public var bidLevels: Int
        public var askLevels: Int
        public var held: Int
        public var syncs: Int
    }

    init(
        market: BinanceMarket, settings: BridgeConfiguration.Books, fetcher: DepthSnapshotFetcher, publisher: EntryPublisher,
        events: BridgeEvents, instruments: InstrumentCache, logger: Logger
    ) {
        self.market = market
        self.settings = settings
        self.fetcher = fetcher
        self.publisher = publisher
        self.events = events
        self.instruments = instruments
        self.logger = logger
    }

    /// Whether `stream` keeps a book: a diff-depth stream of a symbol with books enabled.
    @inline(__always)
    public func isBooked(_ stream: BinanceStreamName) -> Bool {
        guard case .depth = stream.type, let symbol = stream.contractSymbol else { return false }
        return settings.isEnabled(symbol: symbol)
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Every book, by stream name.
    public var books: [BookStatus] {
        state.withLock { state in
            state.books.values.map { book in
                BookStatus(
                    stream: book.stream.rawValue, synced: book.sync.isSynced, lastUpdateId: book.book.lastUpdateId, checksum: book.book.checksum,
                    bidLevels: book.book.bids.count, askLevels: book.book.asks.count, held: book.sync.held.count, syncs: book.syncs
                )
            }.sorted { $0.stream < $1.stream }
        }
    }

    // MARK: Diffs (the market's consume task)

    /// One diff-depth frame of a booked stream and its normalized `depth_update` entry.
    func diff(frame: UnsafeRawBufferPointer, entry: StreamEntry, stream: BinanceStreamName, receive: Int64) {
        var requests: [DepthSnapshotRequest] = []
        state.withLock { state in
            var out: [StreamEntry] = []
            var book = state.books[stream.rawValue] ?? newBook(stream)
            do throws(DepthMessageError) {
                let diff = try DepthDiff.parse(frame: frame, scale: book.scale)
                let ids = DepthUpdateIds(first: diff.firstUpdateId, final: diff.finalUpdateId, previousFinal: diff.previousFinalUpdateId)
                process(&book, ids, Pending(entry: entry, diff: diff, receive: receive), &state.statistics, &out, &requests)
            } catch {
                // The entry still goes out (a consumer may read it); this book cannot use it
                // and syncs again.
                out.append(entry)
                state.statistics.badMessages += 1
                book.sync.interrupted()
                book.heldSnapshot = nil
                report("book_bad_message", stream.rawValue, error.reason)
            }
            state.books[stream.rawValue] = book
            publisher.enqueue(&out)
        }
        for request in requests { fetcher.request(request) }
    }

    private func newBook(_ stream: BinanceStreamName) -> Book {
        let symbol = stream.contractSymbol ?? ""
        let scale = BookScale(instruments.precisions.precision(of: symbol, in: market))
        return Book(
            stream: stream, symbol: symbol, scale: scale, sync: OrderBookSync(bufferLimit: settings.bufferEvents),
            book: OrderBook(priceDecimals: scale.price, quantityDecimals: scale.quantity)
        )
    }

    private func process(
        _ book: inout Book, _ ids: DepthUpdateIds, _ pending: Pending, _ statistics: inout Statistics,
        _ out: inout [StreamEntry], _ requests: inout [DepthSnapshotRequest]
    ) {
        book.written.merge(pending.diff.written)
        switch book.sync.diff(ids, pending) {
        case .apply:
            apply(&book, pending, &statistics, &out)
        case .held:
            break
        case .requestSnapshot:
            requests.append(request(for: book))
        case .sequenceGap(let expected, let got):
            statistics.sequenceGaps += 1
            let start = book.lastApplied ?? pending.receive
            out.append(.gap(
                stream: book.stream, reason: .sequence, startMicroseconds: start, endMicroseconds: pending.receive, timeMicroseconds: pending.receive,
                details: ["expected_prev_update_id": expected, "got_prev_update_id": got]
            ))
            gapEvent(book.stream, .sequence, start, pending.receive, ["expected_prev_update_id": JSONValue(expected), "got_prev_update_id": JSONValue(got)])
            requests.append(request(for: book))
        case .overflow(let dropped):
            statistics.overflowDropped += dropped.count
            let start = dropped.first?.receive ?? pending.receive
            let end = dropped.last?.receive ?? pending.receive
            out.append(.gap(
                stream: book.stream, reason: .overflow, startMicroseconds: start, endMicroseconds: end, timeMicroseconds: pending.receive,
                details: ["dropped": Int64(dropped.count)]
            ))
            gapEvent(book.stream, .overflow, start, end, ["dropped": JSONValue(dropped.count)])
        case .synced(let stale):
            guard let held = book.heldSnapshot else { return }
            book.heldSnapshot = nil
            synced(&book, held.snapshot, receivedAt: held.receivedAt, stale: stale, &statistics, &out)
            apply(&book, pending, &statistics, &out)
        case .snapshotTooOld:
            book.heldSnapshot = nil
            statistics.snapshotsTooOld += 1
            requests.append(request(for: book))
        }
    }

    private func apply(_ book: inout Book, _ pending: Pending, _ statistics: inout Statistics, _ out: inout [StreamEntry]) {
        book.book.apply(bids: pending.diff.bids, asks: pending.diff.asks, finalUpdateId: pending.diff.finalUpdateId)
        book.lastApplied = pending.receive
        out.append(pending.entry)
        book.updatesSinceSnapshot += 1
        let everyUpdates = settings.snapshotEveryUpdates > 0 && book.updatesSinceSnapshot >= settings.snapshotEveryUpdates
        let interval = settings.snapshotInterval.microseconds
        let everyInterval = interval > 0 && pending.receive - book.lastSnapshotWritten >= interval
        if everyUpdates || everyInterval {
            out.append(snapshotEntry(
                book, lastUpdateId: book.book.lastUpdateId, bids: book.book.bids.bestFirst(), asks: book.book.asks.bestFirst(), checksum: book.book.checksum,
                source: .book, eventTime: pending.diff.eventTimeMilliseconds, transactionTime: pending.diff.transactionTimeMilliseconds, receivedAt: pending.receive
            ))
            statistics.snapshotsWritten += 1
            book.updatesSinceSnapshot = 0
            book.lastSnapshotWritten = pending.receive
        }
    }

    /// The book takes `snapshot`: its entry, then the stale held diffs (written, not applied).
    private func synced(
        _ book: inout Book, _ snapshot: DepthSnapshot, receivedAt: Int64, stale: [Pending], _ statistics: inout Statistics, _ out: inout [StreamEntry]
    ) {
        book.book = OrderBook(
            lastUpdateId: snapshot.lastUpdateId, bids: snapshot.bids, asks: snapshot.asks, priceDecimals: book.scale.price, quantityDecimals: book.scale.quantity
        )
        book.written.merge(snapshot.written)
        book.syncs += 1
        statistics.syncs += 1
        statistics.snapshotsWritten += 1
        out.append(snapshotEntry(
            book, lastUpdateId: snapshot.lastUpdateId, bids: book.book.bids.bestFirst(), asks: book.book.asks.bestFirst(), checksum: book.book.checksum,
            source: .rest, eventTime: snapshot.eventTimeMilliseconds, transactionTime: snapshot.transactionTimeMilliseconds, receivedAt: receivedAt
        ))
        book.updatesSinceSnapshot = 0
        book.lastSnapshotWritten = receivedAt
        book.lastApplied = receivedAt
        for pending in stale { out.append(pending.entry) }
        Metrics.Counter(label: "binance_bridge_book_syncs_total", dimensions: [("market", market.rawValue)]).increment()
        events.publish(type: "book_synced", market: market, [
            "stream": JSONValue(book.stream.rawValue), "last_update_id": JSONValue(snapshot.lastUpdateId), "syncs": JSONValue(book.syncs),
            "stale_updates": JSONValue(stale.count),
        ])
    }

    private func snapshotEntry(
        _ book: Book, lastUpdateId: Int64, bids: some Collection<BookLevel>, asks: some Collection<BookLevel>, checksum: UInt64,
        source: DepthSnapshotSource, eventTime: Int64?, transactionTime: Int64?, receivedAt: Int64
    ) -> StreamEntry {
        .depthSnapshot(
            stream: book.stream, symbol: book.symbol, lastUpdateId: lastUpdateId, bids: bids, asks: asks, scale: book.scale, written: book.written,
            checksum: checksum, source: source, eventTimeMilliseconds: eventTime, transactionTimeMilliseconds: transactionTime, receiveTimeMicroseconds: receivedAt
        )
    }

    private func request(for book: Book) -> DepthSnapshotRequest {
        DepthSnapshotRequest(market: market, symbol: book.symbol, stream: book.stream.rawValue)
    }

    // MARK: Snapshots (the fetcher's task)

    public func wantsSnapshot(_ request: DepthSnapshotRequest) -> Bool {
        state.withLock { state in
            guard let book = state.books[request.stream] else { return false }
            if case .awaitingSnapshot = book.sync.phase { return true }
            return false
        }
    }

    public func snapshotArrived(_ request: DepthSnapshotRequest, body: ByteBuffer, receivedAt: Int64) {
        var requests: [DepthSnapshotRequest] = []
        state.withLock { state in
            guard var book = state.books[request.stream] else { return }
            var out: [StreamEntry] = []
            defer {
                state.books[request.stream] = book
                publisher.enqueue(&out)
            }
            let parsed = body.withUnsafeReadableBytes { bytes in Result { () throws(DepthMessageError) in try DepthSnapshot.parse(bytes, scale: book.scale) } }
            let snapshot: DepthSnapshot
            switch parsed {
            case .success(let value): snapshot = value
            case .failure(let error):
                state.statistics.badMessages += 1
                book.sync.snapshotAbandoned()
                report("book_bad_message", request.stream, "depth snapshot: \(error.reason)")
                return
            }
            switch book.sync.snapshot(lastUpdateId: snapshot.lastUpdateId) {
            case .ignored:
                break
            case .holding:
                book.heldSnapshot = (snapshot, receivedAt)
            case .tooOld:
                state.statistics.snapshotsTooOld += 1
                requests.append(self.request(for: book))
            case .synced(let stale, let first, let rest):
                synced(&book, snapshot, receivedAt: receivedAt, stale: stale, &state.statistics, &out)
                apply(&book, first, &state.statistics, &out)
                for (ids, pending) in rest { process(&book, ids, pending, &state.statistics, &out, &requests) }
            }
        }
        for request in requests { fetcher.request(request) }
    }

    public func snapshotFailed(_ request: DepthSnapshotRequest, code: String, reason: String, retryIn: Duration) {
        report(code, request.stream, reason, ["retry_in_ms": JSONValue(retryIn.microseconds / 1_000)])
    }

    // MARK: Lifecycle (the market's consume task and the control path)

    /// The streams' data was interrupted (reconnect, rotation gap, frames dropped): their
    /// markers say so; the books sync again from the next diff.
    func interrupted(_ streams: [String]) {
        state.withLock { state in
            for stream in streams {
                state.books[stream]?.sync.interrupted()
            }
        }
    }

    /// The streams were unsubscribed: their books go, and the diffs they held are written
    /// now (before the `unsubscribed` marker the caller writes next).
    func remove(_ streams: [String]) {
        state.withLock { state in
            var out: [StreamEntry] = []
            for stream in streams {
                guard var book = state.books.removeValue(forKey: stream) else { continue }
                out.append(contentsOf: book.sync.drain().map(\.entry))
            }
            publisher.enqueue(&out)
        }
    }

    // MARK: Reporting

    private func report(_ code: String, _ stream: String, _ message: String, _ extra: [String: JSONValue] = [:]) {
        Metrics.Counter(label: "binance_bridge_book_errors_total", dimensions: [("market", market.rawValue), ("code", code)]).increment()
        logger.debug("order book problem", metadata: ["bridge.stream": "\(stream)", "bridge.code": "\(code)", "bridge.error": "\(message)"])
        var details = extra
        details["code"] = JSONValue(code)
        details["stream"] = JSONValue(stream)
        details["message"] = JSONValue(message)
        events.publish(type: "error", market: market, details)
    }

    private func gapEvent(_ stream: BinanceStreamName, _ reason: GapReason, _ start: Int64, _ end: Int64, _ extra: [String: JSONValue]) {
        Metrics.Counter(label: "binance_bridge_gaps_total", dimensions: [("reason", reason.rawValue)]).increment()
        var details = extra
        details["stream"] = JSONValue(stream.rawValue)
        details["reason"] = JSONValue(reason.rawValue)
        details["gap_start_us"] = JSONValue(start)
        details["gap_end_us"] = JSONValue(end)
        events.publish(type: "gap", market: market, details)
    }
}

extension Duration {
    /// Whole microseconds.
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

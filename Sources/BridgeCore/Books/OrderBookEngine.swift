/// The local order books of one market's diff-depth streams, without I/O: diffs and REST
/// snapshots in; entries to write, snapshots to fetch and notices to report out (Redis
/// contract §2, "Order books").
///
/// Per stream, ``OrderBookSync`` runs Binance's procedure and an ``OrderBook`` holds the
/// levels. What it writes, in stream order:
/// - after each sync, a `depth_snapshot` (source `rest`), then the diffs held while waiting —
///   the stale ones (`final_update_id` < `last_update_id`) included, so no message is lost —
///   and every later `depth_update`;
/// - a `gap` marker with `reason=sequence` when `pu` breaks the chain (that stream alone
///   resyncs), an `overflow` gap when held diffs exceed the buffer bound;
/// - optionally a `depth_snapshot` (source `book`) every N updates or every interval.
public struct OrderBookEngine: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Diffs held per stream while its snapshot is awaited.
        public var bufferEvents: Int
        /// A `book` snapshot every this many updates applied (0: never).
        public var snapshotEveryUpdates: Int
        /// A `book` snapshot when this many µs passed since the last (0: never).
        public var snapshotIntervalMicroseconds: Int64

        public init(bufferEvents: Int = 2_000, snapshotEveryUpdates: Int = 0, snapshotIntervalMicroseconds: Int64 = 0) {
            self.bufferEvents = bufferEvents
            self.snapshotEveryUpdates = snapshotEveryUpdates
            self.snapshotIntervalMicroseconds = snapshotIntervalMicroseconds
        }
    }

    /// Something to report (an event, a metric, a log line).
    public enum Notice: Sendable, Equatable {
        /// A gap marker was written.
        case gap(stream: String, reason: GapReason, start: Int64, end: Int64, details: [String: Int64])
        /// A book synced from a snapshot.
        case synced(stream: String, lastUpdateId: Int64, syncs: Int, staleUpdates: Int)
        /// A diff or a snapshot could not be used (the book syncs again).
        case badMessage(stream: String, reason: String)
        /// A snapshot was older than the held diffs (another is asked for).
        case snapshotTooOld(stream: String, lastUpdateId: Int64)
    }

    /// What one call produced.
    public struct Output: Sendable {
        /// Entries to write, in order.
        public var entries: [StreamEntry] = []
        /// Streams whose snapshot to fetch.
        public var requests: [BinanceStreamName] = []
        public var notices: [Notice] = []
        public init() {}
    }

    /// A held diff: its entry (written when the book syncs) and its levels.
    public struct Pending: Sendable {
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
        /// A snapshot newer than every held diff, kept until the diff that covers it.
        var heldSnapshot: (snapshot: DepthSnapshot, receivedAt: Int64)?
        /// When the last diff was applied, µs: the start of a sequence gap's window.
        var lastApplied: Int64?
        var updatesSinceSnapshot = 0
        var lastSnapshotWritten: Int64 = 0
        var syncs = 0
    }

    /// Counters since start (all books).
    public struct Statistics: Sendable, Equatable {
        /// Books that reached sync (first syncs and resyncs).
        public var syncs = 0
        /// `pu` breaks.
        public var sequenceGaps = 0
        /// `gap` markers written (sequence and overflow).
        public var gapMarkers = 0
        /// Held diffs dropped for the buffer bound.
        public var overflowDropped = 0
        /// `depth_snapshot` entries written.
        public var snapshotsWritten = 0
        /// Snapshots older than the held diffs.
        public var snapshotsTooOld = 0
        /// Diffs or snapshots whose levels did not fit the book's scale, or did not parse.
        public var badMessages = 0
        /// Diffs applied.
        public var updatesApplied = 0
        public init() {}
    }

    /// One book's state.
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

    public let settings: Settings
    private var books: [String: Book] = [:]
    public private(set) var statistics = Statistics()

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Every book, by stream name.
    public var status: [BookStatus] {
        books.values.map { book in
            BookStatus(
                stream: book.stream.rawValue, synced: book.sync.isSynced, lastUpdateId: book.book.lastUpdateId, checksum: book.book.checksum,
                bidLevels: book.book.bids.count, askLevels: book.book.asks.count, held: book.sync.held.count, syncs: book.syncs
            )
        }.sorted { $0.stream < $1.stream }
    }

    /// A copy of `stream`'s book.
    public func book(_ stream: String) -> OrderBook? { books[stream]?.book }

    // MARK: Diffs

    /// One diff-depth frame of `stream` and its normalized `depth_update` entry. A book is
    /// made at the first frame, at the scale of `precision` (the instrument's, if known; asked
    /// for only then, not per frame).
    public mutating func diff(
        frame: UnsafeRawBufferPointer, entry: StreamEntry, stream: BinanceStreamName, receive: Int64, precision: () -> InstrumentPrecision?,
        into output: inout Output
    ) {
        var book = books[stream.rawValue] ?? Self.newBook(stream, precision(), settings)
        do throws(DepthMessageError) {
            let diff = try DepthDiff.parse(frame: frame, scale: book.scale)
            let ids = DepthUpdateIds(first: diff.firstUpdateId, final: diff.finalUpdateId, previousFinal: diff.previousFinalUpdateId)
            process(&book, ids, Pending(entry: entry, diff: diff, receive: receive), &output)
        } catch {
            // The entry still goes out (a consumer may be able to read it); this book cannot
            // use it and syncs again.
            output.entries.append(entry)
            statistics.badMessages += 1
            book.sync.interrupted()
            book.heldSnapshot = nil
            output.notices.append(.badMessage(stream: stream.rawValue, reason: error.reason))
        }
        books[stream.rawValue] = book
    }

    private static func newBook(_ stream: BinanceStreamName, _ precision: InstrumentPrecision?, _ settings: Settings) -> Book {
        let scale = BookScale(precision)
        return Book(
            stream: stream, symbol: stream.contractSymbol ?? "", scale: scale, sync: OrderBookSync(bufferLimit: settings.bufferEvents),
            book: OrderBook(priceDecimals: scale.price, quantityDecimals: scale.quantity, priceTick: scale.tick)
        )
    }

    private mutating func process(_ book: inout Book, _ ids: DepthUpdateIds, _ pending: Pending, _ output: inout Output) {
        book.written.merge(pending.diff.written)
        switch book.sync.diff(ids, pending) {
        case .apply:
            apply(&book, pending, &output)
        case .held:
            break
        case .requestSnapshot:
            output.requests.append(book.stream)
        case .sequenceGap(let expected, let got):
            statistics.sequenceGaps += 1
            statistics.gapMarkers += 1
            let start = book.lastApplied ?? pending.receive
            output.entries.append(.gap(
                stream: book.stream, reason: .sequence, startMicroseconds: start, endMicroseconds: pending.receive, timeMicroseconds: pending.receive,
                details: ["expected_prev_update_id": expected, "got_prev_update_id": got]
            ))
            output.notices.append(.gap(
                stream: book.stream.rawValue, reason: .sequence, start: start, end: pending.receive,
                details: ["expected_prev_update_id": expected, "got_prev_update_id": got]
            ))
            output.requests.append(book.stream)
        case .overflow(let dropped):
            statistics.overflowDropped += dropped.count
            statistics.gapMarkers += 1
            let start = dropped.first?.receive ?? pending.receive
            let end = dropped.last?.receive ?? pending.receive
            output.entries.append(.gap(
                stream: book.stream, reason: .overflow, startMicroseconds: start, endMicroseconds: end, timeMicroseconds: pending.receive,
                details: ["dropped": Int64(dropped.count)]
            ))
            output.notices.append(.gap(stream: book.stream.rawValue, reason: .overflow, start: start, end: end, details: ["dropped": Int64(dropped.count)]))
        case .synced(let stale):
            guard let held = book.heldSnapshot else {
                // Never reached (the phase holds a snapshot only while the book does); still,
                // write what would be lost and start again.
                for pending in stale { output.entries.append(pending.entry) }
                output.entries.append(pending.entry)
                book.sync.interrupted()
                return
            }
            book.heldSnapshot = nil
            synced(&book, held.snapshot, receivedAt: held.receivedAt, stale: stale, &output)
            apply(&book, pending, &output)
        case .snapshotTooOld:
            let old = book.heldSnapshot?.snapshot.lastUpdateId ?? 0
            book.heldSnapshot = nil
            statistics.snapshotsTooOld += 1
            output.notices.append(.snapshotTooOld(stream: book.stream.rawValue, lastUpdateId: old))
            output.requests.append(book.stream)
        }
    }

    private mutating func apply(_ book: inout Book, _ pending: Pending, _ output: inout Output) {
        book.book.apply(bids: pending.diff.bids, asks: pending.diff.asks, finalUpdateId: pending.diff.finalUpdateId)
        book.lastApplied = pending.receive
        statistics.updatesApplied += 1
        output.entries.append(pending.entry)
        book.updatesSinceSnapshot += 1
        let everyUpdates = settings.snapshotEveryUpdates > 0 && book.updatesSinceSnapshot >= settings.snapshotEveryUpdates
        let interval = settings.snapshotIntervalMicroseconds
        let everyInterval = interval > 0 && pending.receive - book.lastSnapshotWritten >= interval
        guard everyUpdates || everyInterval else { return }
        output.entries.append(Self.snapshotEntry(
            book, lastUpdateId: book.book.lastUpdateId, source: .book,
            eventTime: pending.diff.eventTimeMilliseconds, transactionTime: pending.diff.transactionTimeMilliseconds, receivedAt: pending.receive
        ))
        statistics.snapshotsWritten += 1
        book.updatesSinceSnapshot = 0
        book.lastSnapshotWritten = pending.receive
    }

    /// The book takes `snapshot`: its entry, then the stale held diffs (written, not applied).
    private mutating func synced(_ book: inout Book, _ snapshot: DepthSnapshot, receivedAt: Int64, stale: [Pending], _ output: inout Output) {
        book.book = OrderBook(
            lastUpdateId: snapshot.lastUpdateId, bids: snapshot.bids, asks: snapshot.asks, priceDecimals: book.scale.price, quantityDecimals: book.scale.quantity,
            priceTick: book.scale.tick
        )
        book.written.merge(snapshot.written)
        book.syncs += 1
        statistics.syncs += 1
        statistics.snapshotsWritten += 1
        output.entries.append(Self.snapshotEntry(
            book, lastUpdateId: snapshot.lastUpdateId, source: .rest,
            eventTime: snapshot.eventTimeMilliseconds, transactionTime: snapshot.transactionTimeMilliseconds, receivedAt: receivedAt
        ))
        book.updatesSinceSnapshot = 0
        book.lastSnapshotWritten = receivedAt
        book.lastApplied = receivedAt
        for pending in stale { output.entries.append(pending.entry) }
        output.notices.append(.synced(stream: book.stream.rawValue, lastUpdateId: snapshot.lastUpdateId, syncs: book.syncs, staleUpdates: stale.count))
    }

    private static func snapshotEntry(
        _ book: Book, lastUpdateId: Int64, source: DepthSnapshotSource, eventTime: Int64?, transactionTime: Int64?, receivedAt: Int64
    ) -> StreamEntry {
        .depthSnapshot(
            stream: book.stream, symbol: book.symbol, lastUpdateId: lastUpdateId, bids: book.book.bids.bestFirst(), asks: book.book.asks.bestFirst(),
            scale: book.scale, written: book.written, checksum: book.book.checksum, source: source,
            eventTimeMilliseconds: eventTime, transactionTimeMilliseconds: transactionTime, receiveTimeMicroseconds: receivedAt
        )
    }

    // MARK: Snapshots

    /// Whether `stream` waits for a snapshot.
    public func wantsSnapshot(_ stream: String) -> Bool {
        guard let book = books[stream] else { return false }
        if case .awaitingSnapshot = book.sync.phase { return true }
        return false
    }

    /// A REST depth snapshot body for `stream`, read at `receivedAt` (µs).
    public mutating func snapshot(stream: String, body: UnsafeRawBufferPointer, receivedAt: Int64, into output: inout Output) {
        guard var book = books[stream] else { return }
        defer { books[stream] = book }
        let snapshot: DepthSnapshot
        do throws(DepthMessageError) {
            snapshot = try DepthSnapshot.parse(body, scale: book.scale)
        } catch {
            statistics.badMessages += 1
            book.sync.snapshotAbandoned()
            output.notices.append(.badMessage(stream: stream, reason: "depth snapshot: \(error.reason)"))
            return
        }
        switch book.sync.snapshot(lastUpdateId: snapshot.lastUpdateId) {
        case .ignored:
            break
        case .holding:
            book.heldSnapshot = (snapshot, receivedAt)
        case .tooOld:
            statistics.snapshotsTooOld += 1
            output.notices.append(.snapshotTooOld(stream: stream, lastUpdateId: snapshot.lastUpdateId))
            output.requests.append(book.stream)
        case .synced(let stale, let first, let rest):
            synced(&book, snapshot, receivedAt: receivedAt, stale: stale, &output)
            apply(&book, first, &output)
            for (ids, pending) in rest { process(&book, ids, pending, &output) }
        }
    }

    // MARK: Lifecycle

    /// The streams' data was interrupted (reconnect, rotation gap, frames dropped): their own
    /// markers say so; their books sync again from the next diff.
    public mutating func interrupted(_ streams: [String]) {
        for stream in streams {
            books[stream]?.sync.interrupted()
            books[stream]?.heldSnapshot = nil
        }
    }

    /// The streams went away: their books are dropped; returns the diffs they held, to be
    /// written before the streams' last entries.
    public mutating func remove(_ streams: [String]) -> [StreamEntry] {
        var entries: [StreamEntry] = []
        for stream in streams {
            guard var book = books.removeValue(forKey: stream) else { continue }
            entries.append(contentsOf: book.sync.drain().map(\.entry))
        }
        return entries
    }
}

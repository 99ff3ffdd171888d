import BridgeCore
import Logging
import Metrics
import NIOCore
import Synchronization

/// One market's local order books: an ``OrderBookEngine`` behind a lock, with its I/O — the
/// entries go to the publisher, snapshot requests to the ``DepthSnapshotFetcher``, notices to
/// events, metrics and the log.
///
/// Entries of booked streams are handed to the publisher here, under the lock, so a snapshot
/// arriving on the fetcher's task can never be written out of order with the diffs the
/// market's consume task passes in. Requests go to the fetcher after the lock is released
/// (the fetcher asks ``wantsSnapshot(_:)`` under its own lock: one lock order only).
public final class BookKeeper: DepthSnapshotConsumer, Sendable {
    public let market: BinanceMarket
    private let settings: BridgeConfiguration.Books
    private let fetcher: DepthSnapshotFetcher
    private let publisher: EntryPublisher
    private let events: BridgeEvents
    private let instruments: InstrumentCache
    private let logger: Logger
    private let engine: Mutex<OrderBookEngine>

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
        engine = Mutex(OrderBookEngine(settings: OrderBookEngine.Settings(
            bufferEvents: settings.bufferEvents, snapshotEveryUpdates: settings.snapshotEveryUpdates,
            snapshotIntervalMicroseconds: settings.snapshotInterval.wholeMicroseconds
        )))
    }

    /// Whether `stream` keeps a book: a diff-depth stream of a symbol with books enabled.
    @inline(__always)
    public func isBooked(_ stream: BinanceStreamName) -> Bool {
        guard case .depth = stream.type, let symbol = stream.contractSymbol else { return false }
        return settings.isEnabled(symbol: symbol)
    }

    public var statistics: OrderBookEngine.Statistics { engine.withLock { $0.statistics } }

    /// Every book's state.
    public var books: [OrderBookEngine.BookStatus] { engine.withLock { $0.status } }

    /// A copy of `stream`'s book.
    public func book(_ stream: String) -> OrderBook? { engine.withLock { $0.book(stream) } }

    /// One diff-depth frame of a booked stream and its normalized `depth_update` entry.
    func diff(frame: UnsafeRawBufferPointer, entry: StreamEntry, stream: BinanceStreamName, receive: Int64) {
        let output = engine.withLock { engine in
            var output = OrderBookEngine.Output()
            engine.diff(frame: frame, entry: entry, stream: stream, receive: receive, precision: {
                stream.contractSymbol.flatMap { instruments.precisions.precision(of: $0, in: market) }
            }, into: &output)
            publisher.enqueue(&output.entries)
            return output
        }
        finish(output)
    }

    public func wantsSnapshot(_ request: DepthSnapshotRequest) -> Bool {
        engine.withLock { $0.wantsSnapshot(request.stream) }
    }

    public func snapshotArrived(_ request: DepthSnapshotRequest, body: ByteBuffer, receivedAt: Int64) {
        let output = engine.withLock { engine in
            var output = OrderBookEngine.Output()
            body.withUnsafeReadableBytes { engine.snapshot(stream: request.stream, body: $0, receivedAt: receivedAt, into: &output) }
            publisher.enqueue(&output.entries)
            return output
        }
        finish(output)
    }

    public func snapshotFailed(_ request: DepthSnapshotRequest, code: String, reason: String, retryIn: Duration) {
        report(code, request.stream, reason, ["retry_in_ms": JSONValue(retryIn.wholeMilliseconds)])
    }

    /// The streams' data was interrupted (reconnect, rotation gap, frames dropped).
    func interrupted(_ streams: [String]) {
        engine.withLock { $0.interrupted(streams) }
    }

    /// The streams were unsubscribed: their books go, and the diffs they held are written now
    /// (before the `unsubscribed` marker the caller writes next).
    func remove(_ streams: [String]) {
        engine.withLock { engine in
            var entries = engine.remove(streams)
            publisher.enqueue(&entries)
        }
    }

    // MARK: Reporting

    private func finish(_ output: OrderBookEngine.Output) {
        for stream in output.requests {
            fetcher.request(DepthSnapshotRequest(market: market, symbol: stream.contractSymbol ?? "", stream: stream.rawValue))
        }
        for notice in output.notices {
            switch notice {
            case .gap(let stream, let reason, let start, let end, let extra):
                events.gap(market: market, stream: stream, reason: reason, start: start, end: end, extra.mapValues { JSONValue($0) })
            case .synced(let stream, let lastUpdateId, let syncs, let stale):
                Metrics.Counter(label: "binance_bridge_book_syncs_total", dimensions: [("market", market.rawValue)]).increment()
                events.publish(type: "book_synced", market: market, [
                    "stream": JSONValue(stream), "last_update_id": JSONValue(lastUpdateId), "syncs": JSONValue(syncs), "stale_updates": JSONValue(stale),
                ])
            case .badMessage(let stream, let reason):
                report("book_bad_message", stream, reason)
            case .snapshotTooOld(let stream, let lastUpdateId):
                Metrics.Counter(label: "binance_bridge_book_errors_total", dimensions: [("market", market.rawValue), ("code", "snapshot_too_old")]).increment()
                logger.debug("depth snapshot older than the held diffs; fetching another", metadata: ["bridge.stream": "\(stream)", "bridge.last_update_id": "\(lastUpdateId)"])
            }
        }
    }

    private func report(_ code: String, _ stream: String, _ message: String, _ extra: [String: JSONValue] = [:]) {
        Metrics.Counter(label: "binance_bridge_book_errors_total", dimensions: [("market", market.rawValue), ("code", code)]).increment()
        logger.debug("order book problem", metadata: ["bridge.stream": "\(stream)", "bridge.code": "\(code)", "bridge.error": "\(message)"])
        var details = extra
        details["code"] = JSONValue(code)
        details["stream"] = JSONValue(stream)
        details["message"] = JSONValue(message)
        events.publish(type: "error", market: market, details)
    }
}

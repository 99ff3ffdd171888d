import AsyncHTTPClient
import BinanceStreams
import BridgeCore
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

/// One REST depth snapshot a book waits for.
public struct DepthSnapshotRequest: Sendable, Hashable {
    public var market: BinanceMarket
    /// Exchange symbol, upper case (`BTCUSDT`).
    public var symbol: String
    /// The diff-depth stream whose book it syncs.
    public var stream: String
}

/// What the fetcher reports to the books of a market.
public protocol DepthSnapshotConsumer: AnyObject, Sendable {
    /// Whether the request is still wanted (its stream may have been unsubscribed).
    func wantsSnapshot(_ request: DepthSnapshotRequest) -> Bool
    /// The response body of a `200`, read at `receivedAt` (µs since the epoch).
    func snapshotArrived(_ request: DepthSnapshotRequest, body: ByteBuffer, receivedAt: Int64)
    /// A failed attempt; the fetcher tries again after `retryIn`.
    func snapshotFailed(_ request: DepthSnapshotRequest, code: String, reason: String, retryIn: Duration)
}

/// Fetches REST depth snapshots for every book of both markets, one at a time, in the order
/// they were asked for, paced under the request-weight budget (``RESTWeightBudget``: `fapi`
/// and `dapi` share Binance's per-IP budget). A `429` or `418` pauses every request for the
/// `Retry-After` Binance gives; any other failure (timeout, refused, 5xx, bad body) is
/// retried for that request alone with backoff (0.5 s doubling to 30 s), while its book keeps
/// holding its diffs.
public final class DepthSnapshotFetcher: Service, Sendable {
    private let endpoints: [BinanceMarket: BinanceEndpoint]
    private let depthLimit: Int
    private let timeout: Duration
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let backoff = ReconnectBackoff(initialDelay: .milliseconds(500), maxDelay: .seconds(30), jitter: .milliseconds(100))

    private struct Item {
        var request: DepthSnapshotRequest
        var failures = 0
        var notBefore: ContinuousClock.Instant
    }

    private struct State {
        var queue: [Item] = []
        var queued: Set<DepthSnapshotRequest> = []
        var budget: RESTWeightBudget
        var consumers: [BinanceMarket: any DepthSnapshotConsumer] = [:]
        var stopped = false
        var fetched = 0
        var failed = 0
        var rateLimited = 0
    }

    /// Counters since start.
    public struct Statistics: Sendable, Equatable {
        public var fetched: Int
        public var failed: Int
        /// `429` and `418` answers.
        public var rateLimited: Int
        /// Requests waiting.
        public var queued: Int
    }

    public init(endpoints: [BinanceMarket: BinanceEndpoint], depthLimit: Int, weightPerMinute: Int, timeout: Duration, logger: Logger) {
        self.endpoints = endpoints
        self.depthLimit = depthLimit
        self.timeout = timeout
        self.logger = logger
        state = Mutex(State(budget: RESTWeightBudget(limitPerMinute: weightPerMinute)))
        (wakeStream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Sets who receives `market`'s snapshots (once, before ``run()``).
    public func register(_ consumer: any DepthSnapshotConsumer, for market: BinanceMarket) {
        state.withLock { $0.consumers[market] = consumer }
    }

    /// Asks for a snapshot; a request already waiting is not queued twice.
    public func request(_ request: DepthSnapshotRequest) {
        let added = state.withLock { state -> Bool in
            guard !state.stopped, state.queued.insert(request).inserted else { return false }
            state.queue.append(Item(request: request, notBefore: .now))
            return true
        }
        if added { wake.yield() }
    }

    public var statistics: Statistics {
        state.withLock { Statistics(fetched: $0.fetched, failed: $0.failed, rateLimited: $0.rateLimited, queued: $0.queue.count) }
    }

    public func run() async {
        await withGracefulShutdownHandler {
            var wakes = wakeStream.makeAsyncIterator()
            while !Task.isCancelled {
                switch next() {
                case .stopped:
                    return
                case .idle:
                    if await wakes.next() == nil { return }
                case .wait(let duration):
                    // Short naps: a request that arrives meanwhile is picked up soon enough.
                    try? await Task.sleep(for: min(duration, .milliseconds(50)))
                case .fetch(let item, let consumer):
                    await fetch(item, consumer)
                }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopped = true }
            self.wake.finish()
        }
    }

    private enum Step {
        case stopped, idle
        case wait(Duration)
        case fetch(Item, any DepthSnapshotConsumer)
    }

    /// The next request that is due and within budget, dropping those no longer wanted.
    private func next() -> Step {
        let now = ContinuousClock.now
        return state.withLock { state -> Step in
            if state.stopped { return .stopped }
            while true {
                guard let index = state.queue.firstIndex(where: { $0.notBefore <= now }) else {
                    guard let soonest = state.queue.map(\.notBefore).min() else { return .idle }
                    return .wait(soonest - now)
                }
                let item = state.queue[index]
                guard let consumer = state.consumers[item.request.market], consumer.wantsSnapshot(item.request) else {
                    state.queue.remove(at: index)
                    state.queued.remove(item.request)
                    continue
                }
                let wallNow = WallClock.milliseconds()
                switch state.budget.reserve(RESTWeightBudget.depthWeight(limit: depthLimit), now: wallNow) {
                case .wait(let until):
                    return .wait(.milliseconds(max(1, until - wallNow)))
                case .send:
                    state.queue.remove(at: index)
                    state.queued.remove(item.request)
                    return .fetch(item, consumer)
                }
            }
        }
    }

    private func fetch(_ item: Item, _ consumer: any DepthSnapshotConsumer) async {
        let request = item.request
        guard let endpoint = endpoints[request.market] else { return }
        var http = HTTPClientRequest(url: endpoint.restURL("depth") + "?symbol=\(request.symbol)&limit=\(depthLimit)")
        http.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(http, timeout: TimeAmount(timeout))
            let body = try await response.body.collect(upTo: 16 << 20)
            let receivedAt = WallClock.microseconds()
            let wallNow = receivedAt / 1_000
            if let used = response.headers.first(name: "X-MBX-USED-WEIGHT-1M").flatMap({ Int($0) }) {
                state.withLock { $0.budget.reported(used: used, now: wallNow) }
            }
            switch response.status.code {
            case 200:
                state.withLock { $0.fetched += 1 }
                Metrics.Counter(label: "binance_bridge_book_snapshots_total", dimensions: [("market", request.market.rawValue), ("result", "ok")]).increment()
                consumer.snapshotArrived(request, body: body, receivedAt: receivedAt)
            case 429, 418:
                // Binance's rule: stop for Retry-After (a 418 is an IP ban). Every request waits.
                let seconds = Self.retryAfterSeconds(response)
                state.withLock { state in
                    state.rateLimited += 1
                    state.budget.pause(seconds: seconds, now: wallNow)
                }
                let code = response.status.code == 418 ? "rest_banned" : "rest_rate_limited"
                Metrics.Counter(label: "binance_bridge_book_snapshots_total", dimensions: [("market", request.market.rawValue), ("result", code)]).increment()
                requeue(item, failed: false, after: .zero)
                consumer.snapshotFailed(request, code: code, reason: "HTTP \(response.status.code): \(String(buffer: body).prefix(200))", retryIn: .seconds(max(1, seconds)))
            default:
                failed(item, consumer, code: "snapshot_failed", reason: "HTTP \(response.status.code): \(String(buffer: body).prefix(200))")
            }
        } catch {
            failed(item, consumer, code: "snapshot_failed", reason: "\(error)")
        }
    }

    private func failed(_ item: Item, _ consumer: any DepthSnapshotConsumer, code: String, reason: String) {
        let delay = backoff.delay(afterFailures: item.failures, unitRandom: Double.random(in: 0..<1))
        state.withLock { $0.failed += 1 }
        Metrics.Counter(label: "binance_bridge_book_snapshots_total", dimensions: [("market", item.request.market.rawValue), ("result", "failed")]).increment()
        logger.warning("depth snapshot failed", metadata: ["bridge.stream": "\(item.request.stream)", "bridge.error": "\(reason)"])
        requeue(item, failed: true, after: delay)
        consumer.snapshotFailed(item.request, code: code, reason: reason, retryIn: delay)
    }

    /// Puts a request back at the front (it keeps its turn), due after `delay`.
    private func requeue(_ item: Item, failed: Bool, after delay: Duration) {
        state.withLock { state in
            guard !state.stopped, state.queued.insert(item.request).inserted else { return }
            var item = item
            if failed { item.failures += 1 }
            item.notBefore = .now + delay
            state.queue.insert(item, at: 0)
        }
        wake.yield()
    }
}

extension DepthSnapshotFetcher {
    /// The wait Binance asks for with a `429` or `418` (`Retry-After` in seconds; else 60 s,
    /// or 120 s for a ban). Every REST caller of the bridge honours the same rule.
    static func retryAfterSeconds(_ response: HTTPClientResponse) -> Int {
        response.headers.first(name: "Retry-After").flatMap { Int($0) } ?? (response.status.code == 418 ? 120 : 60)
    }
}

import BinanceStreams
import BridgeCore
import DequeModule
import Logging
import Metrics
import RedisClient
import ServiceLifecycle
import Synchronization

/// The `{prefix}:events` channel (Redis contract §5): every state change as one JSON object
/// with `type`, `market`, `time_us` and the details.
///
/// ``publish(type:market:_:)`` never blocks the caller (the pool's event loop, the control
/// service): events wait in a bounded queue drained by ``run()`` with pipelined `PUBLISH`es.
/// Pub/sub is fire-and-forget for Redis too, so when the queue is full the newest event is
/// dropped and counted (`binance_bridge_events_dropped_total`) rather than blocking data.
public final class BridgeEvents: Service, Sendable {
    /// The channel events are published on.
    public let channel: String
    private let redis: RedisConnection
    private let capacity: Int
    private let logger: Logger
    private let state = Mutex<(queue: Deque<String>, finishing: Bool, dropped: Int)>((Deque(), false, 0))
    private let wake = WakeSignal()
    private let droppedCounter = Counter(label: "binance_bridge_events_dropped_total")

    public init(redis: RedisConnection, channel: String, capacity: Int = 10_000, logger: Logger) {
        self.redis = redis
        self.channel = channel
        self.capacity = capacity
        self.logger = logger
    }

    /// Publishes `{"type":type,"market":market,"time_us":now,…details}`.
    public func publish(type: String, market: BinanceMarket?, _ details: [String: JSONValue] = [:]) {
        var object = details
        object["type"] = .string(type)
        if let market { object["market"] = .string(market.rawValue) }
        object["time_us"] = .integer(WallClock.microseconds())
        publish(text: JSONValue.object(object).text)
    }

    /// The `gap` event of a gap marker written into `stream` (and its
    /// `binance_bridge_gaps_total{reason}` count): every writer of gap markers reports them
    /// alike.
    public func gap(market: BinanceMarket, stream: String, reason: GapReason, start: Int64, end: Int64, _ extra: [String: JSONValue] = [:]) {
        Counter(label: "binance_bridge_gaps_total", dimensions: [("reason", reason.rawValue)]).increment()
        var details = extra
        details["stream"] = JSONValue(stream)
        details["reason"] = JSONValue(reason.rawValue)
        details["gap_start_us"] = JSONValue(start)
        details["gap_end_us"] = JSONValue(end)
        publish(type: "gap", market: market, details)
    }

    /// Publishes one JSON text as it is.
    public func publish(text: String) {
        let accepted = state.withLock { state -> Bool in
            guard state.queue.count < capacity else {
                state.dropped += 1
                return false
            }
            state.queue.append(text)
            return true
        }
        if accepted { wake.signal() } else { droppedCounter.increment() }
    }

    /// Events dropped because the queue was full, since start.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.drain()
        } onGracefulShutdown: {
            self.finish()
        }
    }

    /// Publishes what is queued and ends ``run()``.
    public func finish() {
        state.withLock { $0.finishing = true }
        wake.signal()
    }

    private func drain() async {
        var failures = 0
        while true {
            let (texts, finishing) = state.withLock { state -> ([String], Bool) in
                let count = min(state.queue.count, 256)
                let texts = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                return (texts, state.finishing)
            }
            if texts.isEmpty {
                if finishing { return }
                await wake.wait(until: nil)
                continue
            }
            var batch = RedisCommandBatch(reservingCapacity: 4096)
            for text in texts { batch.append(["PUBLISH", channel, text]) }
            do {
                _ = try await redis.execute(batch)
                failures = 0
            } catch {
                // Redis is away: these events are lost (a subscriber would have missed them
                // too); count them and keep going — the status hash and metrics keep the state.
                failures += 1
                state.withLock { $0.dropped += texts.count }
                droppedCounter.increment(by: Int64(texts.count))
                if failures == 1 { logger.warning("cannot publish events", metadata: ["bridge.redis.error": "\(error)"]) }
                if finishing || error.code == .shutdown { return }
                try? await Task.sleep(for: .milliseconds(min(100 * failures, 1000)))
            }
        }
    }
}

import BinanceStreams
import BridgeCore
import DequeModule
import Logging
import Metrics
import RedisClient
import ServiceLifecycle
import Synchronization

/// Writes entries into their Redis Streams: pipelined `XADD key MAXLEN ~ N * field value …`
/// batches on the publisher's own connection (Redis contract §2).
///
/// ``enqueue(_:)`` never blocks: entries wait in a buffer bounded in bytes. While Redis is
/// slow or away the buffer fills; past its bound the **oldest** entries are dropped and
/// counted per stream, and the first batch written once Redis answers again starts with a
/// `gap` marker (`reason=overflow`, the exact `dropped` count, and the window of the dropped
/// entries' times) in each affected stream. A batch that fails on the transport is retried
/// whole, with backoff, so nothing is lost short of an overflow.
///
/// Batching: a batch holds up to `batchSize` entries. When fewer are waiting, the publisher
/// waits up to `batchWindow` after the oldest entry arrived for more (under load batches fill
/// on their own while the previous one is in flight, so the window only delays a trickle).
public final class EntryPublisher: Service, Sendable {
    /// The publisher's settings.
    public struct Configuration: Sendable {
        /// Key prefix (`binance`): streams are `{prefix}:{market}:{stream}`.
        public var prefix: String
        /// `MAXLEN ~` of every stream, unless its kind has an override.
        public var maxlen: Int
        /// Per stream kind overrides of ``maxlen``.
        public var maxlenByKind: [BinanceStreamKind: Int]
        /// Bound of the buffer, bytes of entries.
        public var bufferBytes: Int
        /// Most entries per pipelined batch.
        public var batchSize: Int
        /// Longest an entry waits for a batch to fill.
        public var batchWindow: Duration
        /// Delay before retrying a batch after a Redis failure (doubles up to 2 s).
        public var retryDelay: Duration

        public init(
            prefix: String = "binance",
            maxlen: Int = 100_000,
            maxlenByKind: [BinanceStreamKind: Int] = [:],
            bufferBytes: Int = 64 << 20,
            batchSize: Int = 512,
            batchWindow: Duration = .zero,
            retryDelay: Duration = .milliseconds(100)
        ) {
            self.prefix = prefix
            self.maxlen = maxlen
            self.maxlenByKind = maxlenByKind
            self.bufferBytes = bufferBytes
            self.batchSize = batchSize
            self.batchWindow = batchWindow
            self.retryDelay = retryDelay
        }
    }

    /// Counters since start, for `status`, the status hash and tests.
    public struct Statistics: Sendable, Equatable {
        /// Entries written (markers included).
        public var written = 0
        /// Entries dropped by the buffer bound.
        public var dropped = 0
        /// Entries the server refused for good (e.g. `WRONGTYPE`).
        public var rejected = 0
        /// Batches that failed and were retried.
        public var retries = 0
        /// Entries waiting now.
        public var buffered = 0
        /// Bytes waiting now.
        public var bufferedBytes = 0
        /// The last Redis error, if any.
        public var lastError: String?
    }

    /// Drops not yet reported by a marker, per stream key.
    private struct Overflow {
        var stream: String
        var market: BinanceMarket
        var dropped: Int
        var firstTime: Int64
        var lastTime: Int64
    }

    private struct State {
        var queue = Deque<StreamEntry>()
        var bytes = 0
        var overflow: [String: Overflow] = [:]
        var overflowOrder: [String] = []
        var finishing = false
        var statistics = Statistics()
        /// When the oldest waiting entry arrived (for the batch window).
        var oldestArrival: ContinuousClock.Instant?
    }

    public let configuration: Configuration
    private let redis: RedisConnection
    private let logger: Logger
    private let events: BridgeEvents?
    private let state = Mutex(State())
    private let wake = WakeSignal()
    private let keys: BridgeKeys

    private let writtenCounter = Counter(label: "binance_bridge_entries_out_total")
    private let droppedCounter = Counter(label: "binance_bridge_publisher_dropped_total")
    /// Entries of a timed-out batch found already written, so not sent again.
    private let retrySkippedCounter = Counter(label: "binance_bridge_publisher_retry_skipped_total")
    private let bufferGauge = Gauge(label: "binance_bridge_publisher_buffer_bytes")
    private let batchTimer = Metrics.Timer(label: "binance_bridge_xadd_batch_seconds")
    /// Receive → XADD reply, per data entry (markers excluded: their time is when they were made).
    private let lagTimer = Metrics.Timer(label: "binance_bridge_end_to_end_lag_seconds")
    /// `binance_bridge_entries_out_by_type_total{type}`, made up front.
    private let writtenByType: [EntryType: Counter] = Dictionary(uniqueKeysWithValues: EntryType.allCases.map {
        ($0, Counter(label: "binance_bridge_entries_out_by_type_total", dimensions: [("type", $0.rawValue)]))
    })

    /// - Parameters:
    ///   - redis: a connection used by the publisher alone (its jobs run in order, so a
    ///     shared connection would queue control replies behind data batches).
    ///   - events: where overflow and Redis errors are reported (nil in unit tests).
    public init(redis: RedisConnection, configuration: Configuration, events: BridgeEvents? = nil, logger: Logger) {
        self.redis = redis
        self.configuration = configuration
        self.events = events
        self.logger = logger
        keys = BridgeKeys(prefix: configuration.prefix)
    }

    // MARK: Input

    /// Buffers `entries` (emptying the array, keeping its capacity) and wakes the writer.
    /// Never blocks: past the bound the oldest buffered entries are dropped.
    public func enqueue(_ entries: inout [StreamEntry]) {
        guard !entries.isEmpty else { return }
        let dropped = state.withLock { state -> Int in
            if state.oldestArrival == nil { state.oldestArrival = .now }
            for entry in entries {
                state.bytes += entry.byteCount
                state.queue.append(entry)
            }
            var dropped = 0
            while state.bytes > configuration.bufferBytes, let oldest = state.queue.popFirst() {
                state.bytes -= oldest.byteCount
                dropped += 1
                let key = oldest.market.rawValue + ":" + oldest.stream
                if state.overflow[key] == nil {
                    state.overflow[key] = Overflow(stream: oldest.stream, market: oldest.market, dropped: 0, firstTime: oldest.timeMicroseconds, lastTime: oldest.timeMicroseconds)
                    state.overflowOrder.append(key)
                }
                state.overflow[key]!.dropped += 1
                state.overflow[key]!.firstTime = min(state.overflow[key]!.firstTime, oldest.timeMicroseconds)
                state.overflow[key]!.lastTime = max(state.overflow[key]!.lastTime, oldest.timeMicroseconds)
            }
            state.statistics.dropped += dropped
            return dropped
        }
        entries.removeAll(keepingCapacity: true)
        if dropped > 0 { droppedCounter.increment(by: Int64(dropped)) }
        wake.signal()
    }

    /// Buffers one entry (markers, tests).
    public func enqueue(_ entry: StreamEntry) {
        var entries = [entry]
        enqueue(&entries)
    }

    /// Counters since start.
    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.buffered = state.queue.count
            statistics.bufferedBytes = state.bytes
            return statistics
        }
    }

    // MARK: Writer

    /// Writes batches until graceful shutdown, then drains what is buffered (as long as Redis
    /// answers) and returns. Call ``finish()`` for the same from outside a service group.
    ///
    /// The writer runs on its Redis connection's thread (``RedisConnection/executor``): a
    /// batch's reply resumes it there, with no hop to the cooperative pool and back.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskExecutorPreference(self.redis.executor) {
                await self.writeLoop()
            }
        } onGracefulShutdown: {
            self.finish()
        }
    }

    /// Stops taking the window's time: writes what is buffered and ends ``run()`` once empty.
    public func finish() {
        state.withLock { $0.finishing = true }
        wake.signal()
    }

    private func writeLoop() async {
        var failures = 0
        var batch = RedisCommandBatch(reservingCapacity: 256 << 10)
        // Key and `MAXLEN` per stream, so a batch does not re-derive them per entry. Only
        // this task writes, so the cache needs no lock.
        var streamKeys = StreamKeys()
        while true {
            // Wait for entries (or the end), then for the window when the batch would be small.
            let (taken, finishing) = await takeBatch()
            if taken.isEmpty {
                if finishing { return }
                continue
            }
            var pending = taken
            /// The batch re-encoded for what is still pending.
            func encodePending() {
                batch.removeAll()
                for entry in pending { append(entry, to: &batch, keys: &streamKeys) }
            }
            encodePending()
            // Whether a failed attempt may have run in part (or whole) on the server.
            var uncertain = false
            while !pending.isEmpty {
                let started = ContinuousClock.now
                do {
                    if uncertain {
                        // What Redis already has is not sent again: no duplicates from a retry.
                        let (unwritten, written) = try await withoutWritten(pending, keys: &streamKeys)
                        recordWritten(written, except: [])
                        pending = unwritten
                        encodePending()
                        uncertain = false
                        if pending.isEmpty { break }
                    }
                    let summary = try await redis.execute(batch)
                    batchTimer.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
                    recordWritten(pending, except: summary.failures)
                    pending = handle(summary, of: pending)
                    encodePending()
                    failures = 0
                } catch {
                    failures += 1
                    recordFailure(error)
                    if error.code == .shutdown { return }
                    // The whole batch is retried, less what the server turns out to have run
                    // (a timeout can hide a batch that Redis received and ran late):
                    // ``withoutWritten(_:keys:)`` before the next attempt.
                    uncertain = true
                    // Finishing with Redis away: give up after a few attempts (SIGTERM must
                    // end within seconds); the loss is logged with its count.
                    if finishing || state.withLock({ $0.finishing }), failures >= 3 {
                        logger.error("Redis unavailable at shutdown; buffered entries not written", metadata: ["bridge.entries": "\(pending.count + statistics.buffered)"])
                        return
                    }
                    let delay = min(configuration.retryDelay * (1 << min(failures - 1, 5)), .seconds(2))
                    try? await Task.sleep(for: delay)
                }
            }
        }
    }

    /// The next batch: overflow markers first (they describe entries older than any waiting),
    /// then up to `batchSize` entries. The markers are built (and reported) outside the lock.
    private func takeBatch() async -> (entries: [StreamEntry], finishing: Bool) {
        while true {
            let now = ContinuousClock.now
            enum Next {
                case take(overflows: [Overflow], entries: [StreamEntry], finishing: Bool)
                case wait(ContinuousClock.Instant?)
            }
            let next = state.withLock { state -> Next in
                let full = state.queue.count >= configuration.batchSize
                let windowEnd = state.oldestArrival.map { $0 + configuration.batchWindow }
                let ready = full || state.finishing || !state.overflow.isEmpty || (windowEnd.map { $0 <= now } ?? false)
                guard ready, !(state.queue.isEmpty && state.overflow.isEmpty) else {
                    if state.finishing && state.queue.isEmpty && state.overflow.isEmpty { return .take(overflows: [], entries: [], finishing: true) }
                    return .wait(state.queue.isEmpty ? nil : windowEnd)
                }
                let overflows = state.overflowOrder.compactMap { state.overflow[$0] }
                state.overflow.removeAll()
                state.overflowOrder.removeAll()
                let count = min(configuration.batchSize, state.queue.count)
                var entries: [StreamEntry] = []
                entries.reserveCapacity(count)
                for _ in 0..<count {
                    let entry = state.queue.removeFirst()
                    state.bytes -= entry.byteCount
                    entries.append(entry)
                }
                state.oldestArrival = state.queue.isEmpty ? nil : now
                return .take(overflows: overflows, entries: entries, finishing: state.finishing)
            }
            switch next {
            case .take(let overflows, let entries, let finishing):
                bufferGauge.record(statistics.bufferedBytes)
                return (overflows.map(overflowMarker) + entries, finishing)
            case .wait(let deadline):
                await wake.wait(until: deadline)
            }
        }
    }

    private func overflowMarker(_ overflow: Overflow) -> StreamEntry {
        let now = WallClock.microseconds()
        guard let name = try? BinanceStreamName(overflow.stream, market: overflow.market) else {
            // Only entries of parsed streams are ever enqueued; keep the count visible anyway.
            var entry = StreamEntry(stream: overflow.stream, market: overflow.market, type: .gap, timeMicroseconds: now)
            entry.appendField("reason", GapReason.overflow.rawValue)
            entry.appendField("dropped", Int64(overflow.dropped))
            return entry
        }
        events?.publish(type: "gap", market: overflow.market, [
            "stream": JSONValue(overflow.stream), "reason": "overflow", "dropped": JSONValue(overflow.dropped),
            "gap_start_us": JSONValue(overflow.firstTime), "gap_end_us": JSONValue(overflow.lastTime),
        ])
        return .gap(
            stream: name, reason: .overflow, startMicroseconds: overflow.firstTime, endMicroseconds: overflow.lastTime,
            timeMicroseconds: now, details: ["dropped": Int64(overflow.dropped)]
        )
    }

    /// Entries out by type and the end-to-end lag of each data entry Redis accepted.
    private func recordWritten(_ entries: [StreamEntry], except failures: [RedisPipelineSummary.Failure]) {
        let now = WallClock.microseconds()
        var failed = failures.makeIterator()
        var nextFailure = failed.next()?.index
        var counts: [EntryType: Int] = [:]
        for (index, entry) in entries.enumerated() {
            if index == nextFailure {
                nextFailure = failed.next()?.index
                continue
            }
            counts[entry.type, default: 0] += 1
            if !entry.type.isMarker { lagTimer.recordNanoseconds(max(0, now - entry.timeMicroseconds) * 1_000) }
        }
        for (type, count) in counts { writtenByType[type]?.increment(by: Int64(count)) }
    }

    /// The entries whose command failed with a transient error (to retry); counts and
    /// reports the ones refused for good.
    private func handle(_ summary: RedisPipelineSummary, of entries: [StreamEntry]) -> [StreamEntry] {
        writtenCounter.increment(by: Int64(summary.succeeded))
        state.withLock { $0.statistics.written += summary.succeeded }
        guard !summary.failures.isEmpty else { return [] }
        var retry: [StreamEntry] = []
        var rejected = 0
        for failure in summary.failures {
            let entry = entries[failure.index]
            if Self.isTransient(failure.error) {
                retry.append(entry)
            } else {
                rejected += 1
                logger.error("Redis refused an entry", metadata: ["bridge.stream": "\(entry.stream)", "bridge.redis.error": "\(failure.error)"])
                events?.publish(type: "error", market: entry.market, ["stream": JSONValue(entry.stream), "code": "redis_error", "message": JSONValue(failure.error.message)])
            }
        }
        if let first = summary.failures.first { recordFailure(first.error) }
        state.withLock { $0.statistics.rejected += rejected }
        return retry
    }

    /// `OOM`, `READONLY`, `LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`: the server will take the
    /// entry later. Anything else (`WRONGTYPE`, syntax) would fail forever.
    private static func isTransient(_ error: RedisClientError) -> Bool {
        guard error.isServerError else { return true }
        let code = error.serverErrorCode ?? ""
        return ["OOM", "READONLY", "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS"].contains(code)
    }

    private func recordFailure(_ error: RedisClientError) {
        Counter(label: "binance_bridge_redis_errors_total", dimensions: [("code", error.code.description)]).increment()
        let first = state.withLock { state -> Bool in
            defer {
                state.statistics.lastError = error.description
                state.statistics.retries += 1
            }
            return state.statistics.lastError != error.description
        }
        if first { logger.warning("publishing to Redis failed; retrying", metadata: ["bridge.redis.error": "\(error)"]) }
    }

    /// After an attempt whose outcome is unknown, splits `pending` into the entries Redis does
    /// not have and those it has. A pipeline runs in order, so per stream what ran is a prefix
    /// of that stream's pending entries: everything up to the newest pending entry equal,
    /// field for field, to the stream's last entry (one `XREVRANGE … COUNT 1` per stream).
    /// Entries carry their receive time in µs, so an equal entry is that entry.
    private func withoutWritten(_ pending: [StreamEntry], keys streamKeys: inout StreamKeys) async throws(RedisClientError) -> (unwritten: [StreamEntry], written: [StreamEntry]) {
        var order: [String] = []
        var positions: [String: [Int]] = [:]
        for (index, entry) in pending.enumerated() {
            let key = streamKeys.resolve(entry, keys: keys, configuration: configuration).key
            if positions[key] == nil { order.append(key) }
            positions[key, default: []].append(index)
        }
        var probe = RedisCommandBatch(reservingCapacity: 96 * order.count)
        for key in order { probe.append(["XREVRANGE", key, "+", "-", "COUNT", "1"]) }
        let replies = try await redis.pipeline(probe)
        var written = Set<Int>()
        for (key, reply) in zip(order, replies) {
            guard let fields = reply.array?.first?.streamEntry?.fields else { continue }
            let mine = positions[key] ?? []
            if let newest = mine.lastIndex(where: { pending[$0].decodedFields.elementsEqual(fields) { $0.0 == $1.0 && $0.1 == $1.1 } }) {
                written.formUnion(mine[...newest])
            }
        }
        guard !written.isEmpty else { return (pending, []) }
        logger.info("a timed-out batch had run in part; not sending it again", metadata: ["bridge.entries": "\(written.count)"])
        retrySkippedCounter.increment(by: written.count)
        return (pending.indices.filter { !written.contains($0) }.map { pending[$0] }, written.sorted().map { pending[$0] })
    }

    // MARK: Encoding

    /// Key and trim setting per stream, derived once.
    private struct StreamKeys {
        private var known: [String: (key: String, maxlen: Int)] = [:]

        mutating func resolve(_ entry: StreamEntry, keys: BridgeKeys, configuration: Configuration) -> (key: String, maxlen: Int) {
            let cacheKey = entry.market == .usdm ? entry.stream : "coinm:" + entry.stream
            if let resolved = known[cacheKey] { return resolved }
            let kind = (try? BinanceStreamName(entry.stream, market: entry.market))?.type.kind
            let resolved = (keys.stream(entry.stream, entry.market), kind.flatMap { configuration.maxlenByKind[$0] } ?? configuration.maxlen)
            // Bounded: names come from accepted subscriptions; churn through more distinct
            // names than any pool can hold just starts the cache over.
            if known.count >= 20_000 { known.removeAll(keepingCapacity: true) }
            known[cacheKey] = resolved
            return resolved
        }
    }

    /// `XADD key MAXLEN ~ N * <the entry's fields>`.
    private func append(_ entry: StreamEntry, to batch: inout RedisCommandBatch, keys streamKeys: inout StreamKeys) {
        let (key, maxlen) = streamKeys.resolve(entry, keys: keys, configuration: configuration)
        batch.beginXAdd(key: key, maxlen: maxlen, fieldCount: entry.fieldCount)
        entry.withFieldBytes { batch.appendEncoded($0) }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

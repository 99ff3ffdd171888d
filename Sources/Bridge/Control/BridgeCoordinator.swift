import BinanceStreams
import BridgeCore
import Logging
import Metrics
import RedisClient
import Synchronization

/// Applies control commands to the markets and answers them; restores the desired
/// subscriptions at start; keeps the status hash. Shared by the control and status services.
public final class BridgeCoordinator: Sendable {
    public let keys: BridgeKeys
    public let events: BridgeEvents
    public let publisher: EntryPublisher
    public let instruments: InstrumentCache
    public let markets: [BinanceMarket: MarketService]
    private let redis: RedisConnection
    private let strictInstruments: Bool
    private let logger: Logger
    public let startedAtMicroseconds = WallClock.microseconds()
    private let lastError = Mutex<String?>(nil)
    private let started = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Marks start-up (instruments loaded, subscriptions restored) as done.
    public func startupFinished() {
        let waiters = started.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether start-up (instruments loaded, subscriptions restored) is done.
    public var isStarted: Bool { started.withLock { $0.done } }

    /// Returns once start-up is done: commands apply after the restore, and strict
    /// instrument checks see the loaded cache.
    public func waitUntilStarted() async {
        await withCheckedContinuation { continuation in
            let done = started.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    public init(
        keys: BridgeKeys, redis: RedisConnection, events: BridgeEvents, publisher: EntryPublisher, instruments: InstrumentCache,
        markets: [BinanceMarket: MarketService], strictInstruments: Bool, logger: Logger
    ) {
        self.keys = keys
        self.redis = redis
        self.events = events
        self.publisher = publisher
        self.instruments = instruments
        self.markets = markets
        self.strictInstruments = strictInstruments
        self.logger = logger
    }

    // MARK: Commands

    /// Decodes, applies and answers one control message.
    public func handle(payload: [UInt8]) async {
        let reply: JSONValue
        let replyTo: String?
        let opName: String
        let market: BinanceMarket?
        switch ControlCommand.decode(payload) {
        case .failure(let rejection):
            replyTo = rejection.replyTo
            // A metric label: known ops only, or a client could create series without bound.
            opName = rejection.op.map { ControlOp(rawValue: $0)?.rawValue ?? "unknown" } ?? "none"
            market = nil
            reply = ControlReply.failure(id: rejection.id, op: rejection.op, error: rejection.error)
            events.publish(type: "bad_command", market: nil, [
                "code": JSONValue(rejection.error.code.rawValue), "message": JSONValue(rejection.error.message), "bytes": JSONValue(payload.count),
            ])
            logger.debug("bad control command", metadata: ["bridge.error": "\(rejection.error.message)"])
        case .success(let command):
            replyTo = command.replyTo
            opName = command.op.rawValue
            market = command.market
            do {
                let result = try await apply(command)
                reply = ControlReply.success(id: command.id, op: command.op.rawValue, result: result)
            } catch {
                reply = ControlReply.failure(id: command.id, op: command.op.rawValue, error: error)
            }
        }
        let ok = reply["ok"] == .bool(true)
        Metrics.Counter(label: "binance_bridge_control_commands_total", dimensions: [("op", opName), ("result", ok ? "ok" : (reply["error"]?["code"]?.string ?? "error"))]).increment()
        await send(reply, to: replyTo, market: market)
    }

    private func send(_ reply: JSONValue, to replyTo: String?, market: BinanceMarket?) async {
        let text = reply.text
        events.publish(type: "reply", market: market, ["reply": reply])
        guard let replyTo else { return }
        var batch = RedisCommandBatch(reservingCapacity: text.utf8.count + 128)
        batch.append(["LPUSH", replyTo, text])
        batch.append(["EXPIRE", replyTo, "60"])
        do {
            let summary = try await redis.execute(batch)
            if let failure = summary.failures.first { throw failure.error }
        } catch {
            // The reply is lost (Redis away, or reply_to is not a list); the event went out.
            Metrics.Counter(label: "binance_bridge_replies_lost_total").increment()
            logger.warning("cannot deliver a control reply", metadata: ["bridge.reply_to": "\(replyTo)", "bridge.redis.error": "\(error)"])
        }
    }

    private func apply(_ command: ControlCommand) async throws(ControlError) -> JSONValue {
        switch command.op {
        case .ping:
            return ["pong": true, "time_us": JSONValue(WallClock.microseconds())]
        case .subscribe:
            return try await subscribe(command.streams, market: command.market)
        case .unsubscribe:
            return try await unsubscribe(command.streams, market: command.market)
        case .list:
            return list(command.market)
        case .status:
            return status()
        case .reconcile:
            return try await reconcile(command.market)
        case .instrumentsReload:
            do {
                return ["instruments": JSONValue(try await instruments.reload(command.market))]
            } catch {
                throw ControlError(.redisError, "cannot read \(keys.instruments(command.market)): \(error.message)")
            }
        case .instrumentsSync:
            do {
                return ["instruments": JSONValue(try await instruments.sync(command.market))]
            } catch let error as RedisClientError {
                throw ControlError(.redisError, "cannot write \(keys.instruments(command.market)): \(error.message)")
            } catch {
                throw ControlError(.internal, "exchangeInfo: \(error)")
            }
        }
    }

    private func service(_ market: BinanceMarket) throws(ControlError) -> MarketService {
        guard let service = markets[market] else { throw ControlError(.unknownMarket, "market \(market.rawValue) is not enabled") }
        return service
    }

    /// Validates every name (and, in strict mode, every symbol) before changing anything.
    private func parse(_ streams: [String], market: BinanceMarket, checkSymbols: Bool) throws(ControlError) -> [BinanceStreamName] {
        let names: [BinanceStreamName]
        switch BinanceStreamName.parseAll(streams, market: market) {
        case .success(let parsed): names = parsed
        case .failure(let errors):
            let offending = errors.errors.map(\.name)
            let first = errors.errors.first.map { "\($0)" } ?? "invalid stream"
            throw ControlError(.invalidStream, errors.errors.count == 1 ? first : "\(errors.errors.count) invalid streams; first: \(first)", streams: offending)
        }
        if checkSymbols && strictInstruments {
            let unknown = names.filter { !instruments.knows($0) }.map(\.rawValue)
            if !unknown.isEmpty {
                throw ControlError(.unknownSymbol, "not in the instrument cache of \(market.rawValue) (instruments.strict is on)", streams: unknown)
            }
        }
        return names
    }

    public func subscribe(_ streams: [String], market: BinanceMarket) async throws(ControlError) -> JSONValue {
        let service = try service(market)
        let names = try parse(streams, market: market, checkSymbols: true)
        let result: BinanceStreamPool.SubscribeResult
        do {
            result = try service.subscribe(names)
        } catch let error as StreamPoolError {
            throw ControlError(error.code == .poolExhausted ? .poolExhausted : .internal, error.message, streams: error.streams.map(\.rawValue))
        } catch {
            throw ControlError(.internal, "\(error)")
        }
        // The desired set is what a restart restores: written before the reply. If Redis
        // refuses, the pool is put back as it was, so state and reply agree.
        do {
            try await redis.send(["SADD", keys.subscriptions(market)] + names.map(\.rawValue))
        } catch {
            if !result.added.isEmpty { _ = try? service.pool.unsubscribe(result.added) }
            throw ControlError(.redisError, "cannot write \(keys.subscriptions(market)): \(error.message)")
        }
        return ["added": JSONValue(result.added), "already": JSONValue(result.already), "total": JSONValue(result.total)]
    }

    public func unsubscribe(_ streams: [String], market: BinanceMarket) async throws(ControlError) -> JSONValue {
        let service = try service(market)
        let names = try parse(streams, market: market, checkSymbols: false)
        do {
            try await redis.send(["SREM", keys.subscriptions(market)] + names.map(\.rawValue))
        } catch {
            throw ControlError(.redisError, "cannot write \(keys.subscriptions(market)): \(error.message)")
        }
        let result: BinanceStreamPool.UnsubscribeResult
        do {
            result = try service.unsubscribe(names)
        } catch {
            throw ControlError(.internal, "\(error)")
        }
        return ["removed": JSONValue(result.removed), "absent": JSONValue(result.absent), "total": JSONValue(result.total)]
    }

    public func list(_ market: BinanceMarket) -> JSONValue {
        guard let service = markets[market] else { return ["streams": []] }
        return ["streams": .array(service.pool.subscriptions.map { subscription in
            var object: [String: JSONValue] = [
                "stream": JSONValue(subscription.stream), "state": JSONValue(subscription.state), "connection": JSONValue(subscription.connection),
            ]
            if let reason = subscription.failureReason { object["reason"] = JSONValue(reason) }
            return .object(object)
        })]
    }

    /// Converges `market`'s pool to its desired set; invalid members are reported and left.
    public func reconcile(_ market: BinanceMarket) async throws(ControlError) -> JSONValue {
        let service = try service(market)
        let desired: [BinanceStreamName]
        do {
            desired = try await desiredSet(market)
        } catch {
            throw ControlError(.redisError, "cannot read \(keys.subscriptions(market)): \(error.message)")
        }
        let current = Set(service.pool.subscriptions.map(\.stream))
        let wanted = Set(desired.map(\.rawValue))
        let toAdd = desired.filter { !current.contains($0.rawValue) }
        let toRemove = current.subtracting(wanted).sorted().compactMap { try? BinanceStreamName($0, market: market) }
        var added: [String] = []
        var removed: [String] = []
        if !toRemove.isEmpty, let result = try? service.unsubscribe(toRemove) {
            removed = result.removed
        }
        if !toAdd.isEmpty {
            do {
                added = try service.subscribe(toAdd).added
            } catch let error as StreamPoolError {
                throw ControlError(.poolExhausted, error.message, streams: toAdd.map(\.rawValue))
            } catch {
                throw ControlError(.internal, "\(error)")
            }
        }
        return ["added": JSONValue(added), "removed": JSONValue(removed)]
    }

    /// `market`'s desired set, parsed and sorted; members that are not streams of `market`
    /// are reported (an `error` event each) and left out.
    private func desiredSet(_ market: BinanceMarket) async throws(RedisClientError) -> [BinanceStreamName] {
        let members = (try await redis.send("SMEMBERS", keys.subscriptions(market))).array?.compactMap(\.string) ?? []
        var names: [BinanceStreamName] = []
        for member in members {
            guard let name = try? BinanceStreamName(member, market: market) else {
                events.publish(type: "error", market: market, ["code": "invalid_stream", "stream": JSONValue(member), "message": "invalid member of the desired set, ignored"])
                continue
            }
            names.append(name)
        }
        return names.sorted()
    }

    /// What `status` answers and the status hash holds.
    public func status() -> JSONValue {
        var connections: [JSONValue] = []
        var streams = 0
        var messagesIn = 0
        var gaps = 0
        var rotations = 0
        var books: [JSONValue] = []
        for market in BinanceMarket.allCases {
            guard let service = markets[market] else { continue }
            for book in service.books?.books ?? [] {
                books.append([
                    "market": JSONValue(market.rawValue), "stream": JSONValue(book.stream), "synced": JSONValue(book.synced),
                    "last_update_id": JSONValue(book.lastUpdateId), "bid_levels": JSONValue(book.bidLevels), "ask_levels": JSONValue(book.askLevels),
                    "buffered_events": JSONValue(book.held), "syncs": JSONValue(book.syncs),
                ])
            }
            streams += service.pool.subscriptionCount
            rotations += service.pool.rotationCount
            let statistics = service.statistics
            messagesIn += statistics.messagesIn
            gaps += statistics.gaps
            for connection in service.pool.connections {
                connections.append([
                    "market": JSONValue(market.rawValue), "id": JSONValue(connection.id), "route": JSONValue(connection.route),
                    "streams": JSONValue(connection.streams), "state": JSONValue(connection.state),
                    "age_s": JSONValue(Int(connection.ageSeconds)),
                ])
            }
        }
        let publisher = publisher.statistics
        var result: [String: JSONValue] = [
            "version": JSONValue(BridgeVersion.current),
            "started_at_us": JSONValue(startedAtMicroseconds),
            "uptime_s": JSONValue(Int((WallClock.microseconds() - startedAtMicroseconds) / 1_000_000)),
            "connections": .array(connections),
            "books": .array(books),
            "streams": JSONValue(streams),
            "messages_in": JSONValue(messagesIn),
            "entries_out": JSONValue(publisher.written),
            "gaps": JSONValue(gaps),
            "rotations": JSONValue(rotations),
            "buffered_entries": JSONValue(publisher.buffered),
            "dropped_entries": JSONValue(publisher.dropped),
        ]
        result["redis"] = JSONValue(publisher.lastError == nil ? "ok" : "errors")
        if let error = publisher.lastError ?? lastError.withLock({ $0 }) { result["last_error"] = JSONValue(error) }
        return .object(result)
    }

    // MARK: Start-up

    /// Subscribes every market to its desired set and writes a `restart` gap marker into each
    /// restored stream that already has entries: the window from its last entry to now.
    /// Retries while Redis is away (the bridge is useless without its desired sets).
    public func restore() async {
        for (market, service) in markets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            await retryingWhileRedisIsAway {
                try await restore(market: market, service: service)
            } onFailure: { error in
                lastError.withLock { $0 = "\(error)" }
                logger.warning("cannot restore the desired subscriptions yet", metadata: ["bridge.market": "\(market.rawValue)", "bridge.redis.error": "\(error)"])
            }
        }
    }

    private func restore(market: BinanceMarket, service: MarketService) async throws(RedisClientError) {
        let names = try await desiredSet(market)
        guard !names.isEmpty else { return }
        // The last entry of each stream bounds the restart window.
        var batch = RedisCommandBatch(reservingCapacity: 64 * names.count)
        for name in names { batch.append(["XREVRANGE", keys.stream(name.rawValue, market), "+", "-", "COUNT", "1"]) }
        let replies = try await redis.pipeline(batch)
        let now = WallClock.microseconds()
        var markers: [StreamEntry] = []
        for (name, reply) in zip(names, replies) {
            guard let id = reply.array?.first?.array?.first?.string, let milliseconds = Int64(id.split(separator: "-").first ?? "") else { continue }
            markers.append(.gap(stream: name, reason: .restart, startMicroseconds: milliseconds * 1000, endMicroseconds: now, timeMicroseconds: now))
            events.publish(type: "gap", market: market, [
                "stream": JSONValue(name.rawValue), "reason": "restart", "gap_start_us": JSONValue(milliseconds * 1000), "gap_end_us": JSONValue(now),
            ])
        }
        publisher.enqueue(&markers)
        // In chunks of a connection's worth, so that a desired set edited past the pool's
        // capacity still restores as much as fits (a whole-set subscribe is all-or-nothing);
        // the rest is reported, and stays in the set for a later `reconcile`.
        var restored = 0
        var left: [String] = []
        for start in stride(from: 0, to: names.count, by: 200) {
            let chunk = Array(names[start..<min(start + 200, names.count)])
            guard left.isEmpty, let result = try? service.subscribe(chunk) else {
                left += chunk.map(\.rawValue)
                continue
            }
            restored += result.added.count
        }
        logger.info("restored the desired subscriptions", metadata: ["bridge.market": "\(market.rawValue)", "bridge.streams": "\(restored)"])
        if !left.isEmpty {
            logger.error("the desired set exceeds the pool; some streams are not subscribed", metadata: ["bridge.market": "\(market.rawValue)", "bridge.streams": "\(left.count)"])
            events.publish(type: "error", market: market, [
                "code": "pool_exhausted", "message": JSONValue("\(left.count) desired streams do not fit in the pool"), "streams": JSONValue(Array(left.prefix(1000))),
            ])
        }
    }

    /// Writes the status hash (called every second).
    public func writeStatusHash() async {
        let status = status()
        var fields: [String] = ["HSET", keys.status]
        for key in ["version", "started_at_us", "streams", "messages_in", "entries_out", "gaps", "uptime_s", "buffered_entries", "dropped_entries"] {
            guard let value = status[key] else { continue }
            fields.append(key)
            fields.append(value.string ?? value.text)
        }
        fields += ["connections", String(status["connections"]?.array?.count ?? 0)]
        fields += ["last_error", status["last_error"]?.string ?? "none"]
        _ = try? await redis.send(fields)
    }
}

import BridgeCore
import NIOCore

// MARK: Fault injection, status and connection admission (on the exchange's event loop)

/// Where a stalled stream is silent.
enum StreamStall: Equatable {
    case everywhere
    /// Only on these connection ids.
    case on(Set<Int>)
}

extension SimExchange {
    /// Applies `fault`; one entry point for the in-process API and the admin HTTP API.
    func apply(_ fault: SimFault) throws(SimFaultError) -> SimFaultOutcome {
        switch fault {
        case .drop(let target):
            return forEach(target) { $0.drop() }
        case .expire(let target):
            return forEach(target) { $0.close(code: .goingAway, reason: "connection lifetime expired") }
        case .stallConnection(let target, let seconds):
            try Self.validate(seconds)
            return forEach(target) { $0.stall(seconds: seconds) }
        case .ignorePings(let target, let seconds):
            try Self.validate(seconds)
            return forEach(target) { $0.ignorePings(seconds: seconds) }
        case .slowWrites(let target, let bytesPerSecond):
            guard bytesPerSecond > 0 else { throw SimFaultError("bytes_per_second must be positive, got \(bytesPerSecond)") }
            return forEach(target) { $0.slowWrites(bytesPerSecond: bytesPerSecond) }
        case .badFrame(let target, let kind, let bytes):
            guard bytes > 0, bytes <= 64 << 20 else { throw SimFaultError("bytes must be in 1…67108864, got \(bytes)") }
            let now = WallClock.milliseconds()
            var ids: [String] = []
            for connection in targets(target) {
                guard let size = connection.sendBadFrame(kind, bytes: bytes, now: now) else { continue }
                ids.append(String(connection.id))
                groundTruth?.recordFault(kind, market: connection.market, stream: connection.subscriptions.first ?? "", connection: connection.id, bytes: size)
            }
            return SimFaultOutcome(affected: ids.count, details: ids)
        case .stallStream(let market, let stream, let connection, let seconds):
            try Self.validate(seconds)
            guard SimStream.isWellFormed(stream) else { throw SimFaultError("malformed stream name \(stream)") }
            let stall: StreamStall
            switch (connection, stalledStreams[market]?[stream]) {
            case (nil, _), (_, .everywhere?): stall = .everywhere
            case (let id?, .on(let ids)?): stall = .on(ids.union([id]))
            case (let id?, nil): stall = .on([id])
            }
            stalledStreams[market, default: [:]][stream] = stall
            let key = market.rawValue + ":" + stream
            stallEnds.removeValue(forKey: key)?.cancel()
            if let seconds {
                let bound = NIOLoopBound(self, eventLoop: eventLoop)
                stallEnds[key] = eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
                    bound.value.resumeStream(market: market, stream: stream)
                }
            }
            return SimFaultOutcome(affected: 1, details: [key])
        case .sequenceGap(let market, let symbol):
            guard let model = feeds[market]!.model(for: symbol) else {
                throw SimFaultError("\(market.rawValue) has no symbol \(symbol)")
            }
            let names = SimMarketFeed.depthSpeeds.map { model.instrument.streamSymbol + "@depth" + ($0 == 250 ? "" : "@\($0)ms") }
            gapsArmed[market, default: []].formUnion(names)
            return SimFaultOutcome(affected: names.count, details: names)
        case .refuseConnections(let seconds):
            try Self.validate(seconds)
            refuseUntil = WallClock.milliseconds() + Int64(seconds * 1000)
            return SimFaultOutcome(affected: 0)
        case .restLimit(let status, let count, let retryAfter):
            guard status == 429 || status == 418 else { throw SimFaultError("status must be 429 or 418, got \(status)") }
            guard count > 0, count <= 1_000_000 else { throw SimFaultError("count must be in 1…1000000, got \(count)") }
            guard retryAfter >= 0, retryAfter <= 86_400 else { throw SimFaultError("retry_after must be in 0…86400, got \(retryAfter)") }
            restForced = (status, count, retryAfter)
            return SimFaultOutcome(affected: count)
        case .stallREST(let seconds):
            try Self.validate(seconds)
            restStallUntil = WallClock.milliseconds() + Int64(seconds * 1000)
            return SimFaultOutcome(affected: 0)
        case .rejectSubscriptions(let market, let count, let code):
            guard count > 0, count <= 1_000_000 else { throw SimFaultError("count must be in 1…1000000, got \(count)") }
            subscriptionRejections[market] = (count, code)
            return SimFaultOutcome(affected: count)
        case .messageLimit(let perSecond, let seconds):
            guard perSecond > 0 else { throw SimFaultError("per_second must be positive, got \(perSecond)") }
            try Self.validate(seconds)
            messageLimitOverride = (perSecond, WallClock.milliseconds() + Int64(seconds * 1000))
            return SimFaultOutcome(affected: openConnections.count)
        case .clear:
            subscriptionRejections.removeAll()
            messageLimitOverride = nil
            refuseUntil = 0
            restForced = nil
            restStallUntil = 0
            for end in stallEnds.values { end.cancel() }
            stallEnds.removeAll()
            stalledStreams.removeAll()
            gapsArmed.removeAll()
            return forEach(.all) { $0.clearFaults() }
        }
    }

    /// The incoming messages per second a connection may send now.
    var messageLimit: Int {
        if let override = messageLimitOverride {
            if WallClock.milliseconds() < override.until { return override.perSecond }
            messageLimitOverride = nil
        }
        return configuration.maxMessagesPerSecond
    }

    /// Whether the next `SUBSCRIBE` on `market` is to be refused, and with which code.
    func takeSubscriptionRejection(_ market: BinanceMarket) -> Int? {
        // The market's own first, then those for either market.
        for key in [market, nil] as [BinanceMarket?] {
            guard let rejection = subscriptionRejections[key] else { continue }
            subscriptionRejections[key] = rejection.remaining > 1 ? (rejection.remaining - 1, rejection.code) : nil
            return rejection.code
        }
        return nil
    }

    private static func validate(_ seconds: Double?) throws(SimFaultError) {
        if let seconds, !(seconds > 0 && seconds <= 86_400) {
            throw SimFaultError("seconds must be in (0, 86400], got \(seconds)")
        }
    }

    private func resumeStream(market: BinanceMarket, stream: String) {
        stalledStreams[market]?[stream] = nil
        if stalledStreams[market]?.isEmpty == true { stalledStreams[market] = nil }
        stallEnds[market.rawValue + ":" + stream] = nil
    }

    /// Open connections matching `target`, by id.
    private func targets(_ target: SimConnectionTarget) -> [SimWebSocketHandler] {
        openConnections.filter { target.matches(id: $0.id, market: $0.market) }.sorted { $0.id < $1.id }
    }

    private func forEach(_ target: SimConnectionTarget, _ body: (SimWebSocketHandler) -> Void) -> SimFaultOutcome {
        let chosen = targets(target)
        for connection in chosen { body(connection) }
        return SimFaultOutcome(affected: chosen.count, details: chosen.map { String($0.id) })
    }

    // MARK: Status

    func status() -> SimStatus {
        let now = WallClock.milliseconds()
        return SimStatus(
            connections: openConnections.sorted { $0.id < $1.id }.map { connection in
                SimConnectionStatus(
                    id: connection.id, market: connection.market, route: connection.route, combined: connection.combined,
                    streams: connection.subscriptions, ageMilliseconds: now - connection.openedAt,
                    messagesSent: connection.messagesSent, pingsSent: connection.pingsSent,
                    pongsAnswering: connection.pongsAnswering, pongsUnsolicited: connection.pongsUnsolicited, faults: connection.activeFaults
                )
            },
            messagesSent: messagesSent,
            eventsWithheld: eventsWithheld,
            connectionsRefused: connectionsRefused,
            stalledStreams: stalledStreams.flatMap { market, streams in streams.keys.map { market.rawValue + ":" + $0 } }.sorted(),
            refusingConnections: now < refuseUntil,
            replayedRecords: replay?.replayed ?? 0,
            replayMalformedLines: replay?.malformedLines ?? 0
        )
    }

    // MARK: REST faults

    /// The forced status of the next REST answer, if ``SimFault/restLimit(status:count:retryAfter:)`` is armed.
    func takeForcedRESTStatus() -> (status: Int, retryAfter: Int)? {
        guard var forced = restForced else { return nil }
        forced.remaining -= 1
        restForced = forced.remaining > 0 ? forced : nil
        return (forced.status, forced.retryAfter)
    }

    // MARK: Admission

    /// Whether a new TCP connection is accepted (false while `refuseConnections` is active).
    func acceptsConnection() -> Bool {
        guard WallClock.milliseconds() < refuseUntil else { return true }
        connectionsRefused += 1
        return false
    }

    /// Counts a WebSocket handshake from `address`; false when it exceeds
    /// `maxConnectionAttempts` within `connectionAttemptWindow` (Binance states 300 per
    /// 5 minutes per IP for spot; futures do not say — an assumption, configurable).
    func admitHandshake(from address: String) -> Bool {
        let now = WallClock.milliseconds()
        let window = Int64(TimeAmount(configuration.connectionAttemptWindow).nanoseconds / 1_000_000)
        var attempts = connectionAttempts[address, default: []]
        attempts.removeAll { now - $0 >= window }
        guard attempts.count < configuration.maxConnectionAttempts else {
            connectionAttempts[address] = attempts
            connectionsRefused += 1
            return false
        }
        attempts.append(now)
        connectionAttempts[address] = attempts
        return true
    }
}

import BridgeCore
import NIOCore
import NIOWebSocket

/// The simulator's state on its event loop: both markets' feeds, the open connections and who
/// is subscribed to what. Everything here runs on one event loop, so no locks: handlers reach
/// it through `NIOLoopBound`.
final class SimExchange {
    let configuration: SimulatorConfiguration
    let eventLoop: any EventLoop
    private(set) var feeds: [BinanceMarket: SimMarketFeed] = [:]
    /// Subscribers per market per stream name (only streams that deliver on that connection).
    private var subscribers: [BinanceMarket: [String: [ObjectIdentifier: SimWebSocketHandler]]] = [:]
    private var connections: [ObjectIdentifier: SimWebSocketHandler] = [:]
    private var dirty: [ObjectIdentifier: SimWebSocketHandler] = [:]
    private var ticker: Scheduled<Void>?
    private var running = false
    private var nextConnectionID = 1
    private var restLimiter: SimWeightLimiter
    /// Messages written to sockets since start.
    private(set) var messagesSent = 0

    // MARK: Fault state (set by SimExchange+Faults)

    /// Stalled streams per market, by name.
    var stalledStreams: [BinanceMarket: [String: StreamStall]] = [:]
    /// Scheduled ends of timed stream stalls, by `market:stream`.
    var stallEnds: [String: Scheduled<Void>] = [:]
    /// Diff-depth streams whose next event is withheld (a sequence gap), per market.
    var gapsArmed: [BinanceMarket: Set<String>] = [:]
    /// New connections are closed on accept until this wall-clock ms.
    var refuseUntil: Int64 = 0
    /// ``SimFault/restLimit(status:count:retryAfter:)``: REST answers still to force.
    var restForced: (status: Int, remaining: Int, retryAfter: Int)?
    /// ``SimFault/stallREST(seconds:)``: REST answers are held until this time (ms).
    var restStallUntil: Int64 = 0
    /// ``SimFault/rejectSubscriptions(market:count:code:)``: SUBSCRIBE requests still to refuse
    /// per market (nil key: the next of either market), and the error code they get.
    var subscriptionRejections: [BinanceMarket?: (remaining: Int, code: Int)] = [:]
    /// ``SimFault/messageLimit(perSecond:seconds:)``: the incoming-message limit in force
    /// until this time (ms) instead of the configured one.
    var messageLimitOverride: (perSecond: Int, until: Int64)?
    var eventsWithheld = 0
    var connectionsRefused = 0
    /// WebSocket handshakes per remote address in the current window (attempt limit).
    var connectionAttempts: [String: [Int64]] = [:]
    /// Every message sent, when `groundTruthPath` is configured.
    var groundTruth: SimGroundTruth?
    /// The capture played instead of the simulated market, when `replayPath` is configured.
    var replay: SimReplay?

    init(configuration: SimulatorConfiguration, eventLoop: any EventLoop) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        restLimiter = SimWeightLimiter(limitPerMinute: configuration.restWeightPerMinute)
        for market in BinanceMarket.allCases {
            feeds[market] = SimMarketFeed(market: market, configuration: configuration)
            subscribers[market] = [:]
        }
    }

    // MARK: Clock

    /// Starts the market clock. Tick `k` is scheduled at `start + k × interval`; its events
    /// carry that time even if the loop runs late (open-loop stamping).
    func start() {
        let interval = TimeAmount(configuration.tickInterval)
        tickMilliseconds = max(1, interval.nanoseconds / 1_000_000)
        nextTickTime = WallClock.milliseconds() + tickMilliseconds
        running = true
        scheduleNextTick()
    }

    /// Arms the timer for the wall-clock time of the next tick. Not `scheduleRepeatedTask`:
    /// its delay runs from the end of the previous tick, so the timer drifts by every tick's
    /// run time and events would leave up to a tick after the time they carry, a lag the
    /// end-to-end benchmark (bench/) would charge to the bridge.
    private func scheduleNextTick() {
        guard running else { return }
        let delay = max(0, nextTickTime * 1000 - WallClock.microseconds())
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        ticker = eventLoop.scheduleTask(in: .microseconds(delay)) {
            bound.value.onTick()
            bound.value.scheduleNextTick()
        }
    }

    private var tickMilliseconds: Int64 = 10
    private var nextTickTime: Int64 = 0

    /// Runs every scheduled tick that is due (catching up one tick at a time if the loop fell
    /// behind), then flushes the connections written to.
    private func onTick() {
        if let replay {
            nextTickTime = WallClock.milliseconds() + tickMilliseconds  // a replay keeps its own clock
            // The capture's clock starts with the first subscriber, so a client that connects
            // after start-up still receives the whole capture.
            guard subscribers.values.contains(where: { !$0.isEmpty }) else { return }
            replay.advance(toWallMicroseconds: WallClock.microseconds()) { record in
                dispatch(market: record.market, stream: record.stream, payload: record.payload)
            }
            flush()
            return
        }
        let now = WallClock.milliseconds()
        while nextTickTime <= now {
            advance(to: nextTickTime)
            nextTickTime += tickMilliseconds
        }
        flush()
    }

    func stop() {
        running = false
        ticker?.cancel()
        ticker = nil
        groundTruth?.close()
        for connection in connections.values { connection.close(code: .goingAway, reason: "server shutting down") }
    }

    /// Advances both markets to `now` (also used directly by tests).
    func advance(to now: Int64) {
        // Since the 2026-06-30 merge these all-market streams carry both universes on both
        // hosts (protocol §1): each market's rows go to the subscribers of both markets, and
        // the `@arr` arrays of one tick are joined into one array, USD-M rows first.
        var shared: [(market: BinanceMarket, stream: String, payload: String)] = []
        for market in BinanceMarket.allCases {
            let own = subscribers[market]!
            let other = subscribers[market == .usdm ? .coinm : .usdm]!
            let wants: (String) -> Bool = { stream in
                own[stream] != nil || (Self.crossMarketStreams.contains(stream) && other[stream] != nil)
            }
            feeds[market]!.advance(to: now, wants: wants) { [self] stream, payload in
                if Self.crossMarketStreams.contains(stream) {
                    shared.append((market, stream, payload))
                } else {
                    dispatch(market: market, stream: stream, payload: payload)
                }
            }
        }
        guard !shared.isEmpty else { return }
        var arrays: [String: [String]] = [:]
        var arrayOrder: [String] = []
        for row in shared {
            if row.stream.hasSuffix("@arr") && row.payload.hasPrefix("[") {
                if arrays[row.stream] == nil { arrayOrder.append(row.stream) }
                arrays[row.stream, default: []].append(String(row.payload.dropFirst().dropLast()))
            } else {
                for market in BinanceMarket.allCases { dispatch(market: market, stream: row.stream, payload: row.payload) }
            }
        }
        for stream in arrayOrder {
            let joined = "[" + arrays[stream]!.filter { !$0.isEmpty }.joined(separator: ",") + "]"
            for market in BinanceMarket.allCases { dispatch(market: market, stream: stream, payload: joined) }
        }
    }

    /// All-market streams that carry both markets' rows on both hosts (protocol §1). The
    /// `!forceOrder@arr` stream sends one object per liquidation, not an array.
    static let crossMarketStreams: Set<String> = ["!bookTicker", "!ticker@arr", "!miniTicker@arr", "!forceOrder@arr", "!contractInfo"]


    // MARK: Dispatch

    func dispatch(market: BinanceMarket, stream: String, payload: String) {
        guard let targets = subscribers[market]?[stream], !targets.isEmpty else { return }
        if !gapsArmed.isEmpty, gapsArmed[market]?.remove(stream) != nil {
            if gapsArmed[market]!.isEmpty { gapsArmed[market] = nil }
            eventsWithheld += 1
            return
        }
        var stalledOn: Set<Int>?
        switch stalledStreams.isEmpty ? nil : stalledStreams[market]?[stream] {
        case .everywhere?: return
        case .on(let ids)?: stalledOn = ids
        case nil: break
        }
        // Each form is encoded once as a whole WebSocket frame and shared by every connection
        // (server frames are unmasked, so the bytes are identical): one buffer, no per-write
        // header or boxing.
        var raw: ByteBuffer?
        var combined: ByteBuffer?
        var delivered: [Int] = []
        for (id, connection) in targets {
            if let stalledOn, stalledOn.contains(connection.id) { continue }
            let buffer: ByteBuffer
            if connection.combined {
                if combined == nil { combined = SimFrame.text("{\"stream\":\"\(stream)\",\"data\":\(payload)}") }
                buffer = combined!
            } else {
                if raw == nil { raw = SimFrame.text(payload) }
                buffer = raw!
            }
            if connection.deliver(buffer) {
                dirty[id] = connection
                messagesSent += 1
                if groundTruth != nil { delivered.append(connection.id) }
            }
        }
        if let groundTruth, !delivered.isEmpty {
            groundTruth.record(market: market, stream: stream, connections: delivered, payload: payload)
        }
    }

    /// Flushes every connection written to during this tick (one syscall per connection).
    func flush() {
        for connection in dirty.values { connection.flush() }
        dirty.removeAll(keepingCapacity: true)
        groundTruth?.flush()
    }

    // MARK: Connections

    func register(_ connection: SimWebSocketHandler) -> Int {
        connections[ObjectIdentifier(connection)] = connection
        defer { nextConnectionID += 1 }
        return nextConnectionID
    }

    func unregister(_ connection: SimWebSocketHandler) {
        let id = ObjectIdentifier(connection)
        connections[id] = nil
        dirty[id] = nil
        for stream in connection.subscriptions {
            subscribers[connection.market]?[stream]?[id] = nil
            if subscribers[connection.market]?[stream]?.isEmpty == true { subscribers[connection.market]?[stream] = nil }
        }
    }

    /// Whether `stream` delivers on a connection of `route` in `market`.
    func delivers(_ stream: String, market: BinanceMarket, route: SimRoute) -> Bool {
        guard market == .usdm, configuration.silentWrongRoute else { return true }
        let effective: SimRoute = route == .unrouted ? .public : route
        return SimStream.route(of: stream) == effective
    }

    func subscribe(_ connection: SimWebSocketHandler, _ stream: String) {
        guard delivers(stream, market: connection.market, route: connection.route) else { return }
        subscribers[connection.market]![stream, default: [:]][ObjectIdentifier(connection)] = connection
    }

    func unsubscribe(_ connection: SimWebSocketHandler, _ stream: String) {
        subscribers[connection.market]?[stream]?[ObjectIdentifier(connection)] = nil
        if subscribers[connection.market]?[stream]?.isEmpty == true { subscribers[connection.market]?[stream] = nil }
    }

    /// Charges REST weight (one budget for both markets, as Binance since 2026-06-30).
    func charge(weight: Int, now: Int64) -> SimWeightLimiter.Verdict {
        restLimiter.charge(weight, now: now)
    }

    /// Open connections, for status and fault injection.
    var openConnections: [SimWebSocketHandler] { Array(connections.values) }
}

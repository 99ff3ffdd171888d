import Testing
@testable import BridgeCore

/// The pure pieces driven together the way the WebSocket layer will drive them, against a
/// scripted exchange that acknowledges every request: the API composes, and a reconnect
/// goes failed → pending → confirmed with one gap report.
@Suite("Stream pool composition")
struct StreamPoolCompositionTests {
    typealias Tracker = SubscriptionRequestTracker<FakeInstant>
    typealias Lifecycle = ConnectionLifecycleStateMachine<FakeInstant>

    struct Harness {
        var pool: StreamPoolStateMachine
        var trackers: [PoolConnectionID: Tracker] = [:]
        var lifecycles: [PoolConnectionID: Lifecycle] = [:]
        var messageQuota = SubscriptionMessageQuota<PoolConnectionID, FakeInstant>()
        var attemptQuota = ConnectionAttemptQuota<FakeInstant>()
        var requestsSent: [Tracker.Request] = []
        let configuration: StreamPoolConfiguration

        init(_ configuration: StreamPoolConfiguration) {
            self.configuration = configuration
            pool = StreamPoolStateMachine(market: .usdm, configuration: configuration)
        }

        mutating func subscribe(_ streams: [BinanceStreamName], at now: FakeInstant) throws {
            let plan = try pool.subscribe(streams)
            for connection in plan.newConnections {
                trackers[connection.id] = Tracker(connection: connection.id, configuration: configuration)
                lifecycles[connection.id] = Lifecycle(connection: connection.id, configuration: configuration)
                lifecycles[connection.id]!.start(at: now)
            }
            for request in plan.subscribe { trackers[request.connection]!.subscribe(request.streams) }
        }

        /// Runs every connection's timers and requests at `now`; the exchange acks at once.
        mutating func step(at now: FakeInstant) {
            for id in lifecycles.keys.sorted() {
                for action in lifecycles[id]!.poll(at: now, attempts: &attemptQuota) {
                    if case .connect = action {  // the exchange accepts every connection at once
                        lifecycles[id]!.connected(at: now)
                        pool.connectionOpened(id)
                        trackers[id]!.connectionOpened()
                    }
                }
                apply(trackers[id]!.expireRequests(at: now), on: id)
                while case .send(let request) = trackers[id]!.nextAction(at: now, quota: &messageQuota) {
                    requestsSent.append(request)
                    apply(trackers[id]!.replyReceived(id: request.id, outcome: .success) ?? [], on: id)
                }
            }
        }

        mutating func apply(_ events: [Tracker.Event], on id: PoolConnectionID) {
            for event in events {
                switch event {
                case .confirmed(let streams): pool.setState(.confirmed, of: streams, on: id)
                case .failed(let streams, let reason): pool.setState(.failed(reason: reason), of: streams, on: id)
                case .unsubscribed, .unsubscribeFailed, .refused: break
                }
            }
        }

        mutating func drop(_ id: PoolConnectionID, at now: FakeInstant) {
            _ = lifecycles[id]!.closed(at: now, unitRandom: 0)
            pool.connectionLost(id, reason: "connection lost")
            apply(trackers[id]!.connectionLost(reason: "connection lost"), on: id)
        }
    }

    @Test func subscribeConnectConfirmDropAndRecover() throws {
        var configuration = StreamPoolConfiguration()
        configuration.maxStreamsPerConnection = 3
        configuration.maxStreamsPerRequest = 2
        var harness = Harness(configuration)
        let streams = (0..<4).map { stream("s\($0)usdt@aggTrade") }
        try harness.subscribe(streams, at: .zero)
        #expect(harness.pool.connections.map(\.streams.count) == [3, 1])

        // t = 0: #1 connects; #2 waits for the attempt quota (1 per second).
        harness.step(at: .zero)
        #expect(harness.pool.connection(PoolConnectionID(1))?.state == .open)
        #expect(harness.pool.connection(PoolConnectionID(2))?.state == .connecting)
        // #1's 3 streams need 2 requests (2 + 1), 200 ms apart.
        #expect(harness.requestsSent.map(\.streams.count) == [2])
        harness.step(at: .ms(200))
        harness.step(at: .s(1))
        #expect(harness.requestsSent.map(\.streams.count) == [2, 1, 1])
        #expect(harness.requestsSent.map(\.id) == [1, 2, 1])  // ids are per connection
        #expect(harness.pool.subscriptions.allSatisfy { $0.state == .confirmed })

        // #1 drops after being healthy: its streams fail, then recover after 500 ms.
        _ = harness.lifecycles[PoolConnectionID(1)]!.frameReceived(at: .s(40), isData: true)
        harness.drop(PoolConnectionID(1), at: .s(41))
        let onFirst = harness.pool.subscriptions.filter { $0.connection == PoolConnectionID(1) }
        #expect(onFirst.count == 3)
        #expect(onFirst.allSatisfy { $0.state == .failed(reason: "connection lost") })
        harness.step(at: FakeInstant.ms(41_500).justBefore)
        #expect(harness.pool.connection(PoolConnectionID(1))?.state == .reconnecting)
        harness.step(at: .ms(41_500))
        #expect(harness.pool.connection(PoolConnectionID(1))?.state == .open)
        harness.step(at: .ms(41_700))
        #expect(harness.pool.subscriptions.allSatisfy { $0.state == .confirmed })
        #expect(harness.requestsSent.suffix(2).map(\.id) == [3, 4])
        let gap = harness.lifecycles[PoolConnectionID(1)]!.frameReceived(at: .s(42), isData: true)
        #expect(gap == .init(connection: PoolConnectionID(1), gapStart: .s(40), gapEnd: .s(42), failedAttempts: 0))
    }

    @Test func rotationTimelineSwitchesOverWithoutLossOrDuplicates() throws {
        var configuration = StreamPoolConfiguration()
        configuration.connectionLifetime = .seconds(1000)
        configuration.rotationMargin = .seconds(100)
        configuration.idleTimeout = .seconds(5000)
        configuration.pingInterval = .seconds(4000)
        var harness = Harness(configuration)
        let a = stream("btcusdt@aggTrade"), b = stream("ethusdt@aggTrade")
        try harness.subscribe([a, b], at: .zero)
        harness.step(at: .zero)
        let old = PoolConnectionID(1)
        #expect(harness.trackers[old]!.isFullyConfirmed)

        // Each stream's sequence: payload n of stream s has fingerprint s × 1000 + n.
        var delivered: [String: [Int]] = [:]
        var dedup: OverlapDeduplicator<String, Int>?
        func frame(_ name: BinanceStreamName, _ n: Int, from id: PoolConnectionID, at now: FakeInstant) {
            _ = harness.lifecycles[id]!.frameReceived(at: now, isData: true)
            let fingerprint = UInt64(name == a ? 1000 + n : 2000 + n)
            if var merging = dedup {
                let out = merging.receive(n, fingerprint: fingerprint, stream: name.rawValue, from: id == old ? .old : .new)
                dedup = merging
                delivered[name.rawValue, default: []] += out
            } else {
                delivered[name.rawValue, default: []].append(n)
            }
        }
        for n in 0..<5 { frame(a, n, from: old, at: .s(Int64(890 + n))) }
        var attempts = ConnectionAttemptQuota<FakeInstant>()  // (not harness's: one access at a time)

        // T + 900 s (lifetime − margin): open a replacement carrying the same streams.
        #expect(harness.lifecycles[old]!.poll(at: FakeInstant.s(900).justBefore, attempts: &attempts).isEmpty)
        #expect(harness.lifecycles[old]!.poll(at: .s(900), attempts: &attempts) == [.openReplacement])
        let begun = harness.pool.beginReplacement(of: old)
        let replacement = try #require(begun)
        harness.trackers[replacement.new] = Tracker(connection: replacement.new, configuration: configuration)
        harness.trackers[replacement.new]!.subscribe(replacement.streams)
        harness.lifecycles[replacement.new] = Lifecycle(connection: replacement.new, configuration: configuration)
        harness.lifecycles[replacement.new]!.start(at: .s(900))
        dedup = OverlapDeduplicator(capacityPerStream: configuration.rotationBufferPerStream)
        harness.step(at: .s(900))
        #expect(harness.trackers[replacement.new]!.isFullyConfirmed)
        #expect(harness.pool.subscriptions.allSatisfy { $0.connection == old && $0.state == .confirmed })

        // Overlap: the new socket starts at a:4 (behind), then runs ahead of the old one.
        frame(a, 4, from: replacement.new, at: .ms(900_100))
        frame(a, 5, from: replacement.new, at: .ms(900_200))
        frame(a, 6, from: replacement.new, at: .ms(900_300))
        frame(a, 5, from: old, at: .ms(900_400))
        frame(b, 0, from: replacement.new, at: .ms(900_500))  // b is quiet on the old socket
        frame(a, 6, from: old, at: .ms(900_600))
        frame(a, 7, from: old, at: .ms(900_700))

        // Ready (all confirmed, delivered): switch over, close the old connection for good.
        #expect(harness.lifecycles[old]!.replacementReady(at: .s(901)) == [.switchOver])
        for release in dedup!.finish() { delivered[release.stream, default: []] += release.payloads }
        #expect(harness.pool.completeReplacement(of: old) == replacement.new)
        #expect(harness.lifecycles[old]!.closed(at: .s(902), unitRandom: 0).isEmpty)
        #expect(harness.lifecycles[old]!.state == .closed)
        harness.pool.connectionClosed(old)
        frame(a, 7, from: replacement.new, at: .s(903))
        frame(a, 8, from: replacement.new, at: .s(904))
        frame(b, 1, from: replacement.new, at: .s(904))

        #expect(delivered[a.rawValue] == Array(0...8))
        #expect(delivered[b.rawValue] == [0, 1])
        #expect(harness.pool.connections.map(\.id) == [replacement.new])
        #expect(harness.pool.subscriptions.allSatisfy { $0.connection == replacement.new && $0.state == .confirmed })
    }
}

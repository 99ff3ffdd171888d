import Testing
@testable import BridgeCore

@Suite("StreamPoolStateMachine")
struct StreamPoolStateMachineTests {
    typealias Pool = StreamPoolStateMachine

    /// `count` distinct `/market` streams, starting at `first`.
    static func marketStreams(_ count: Int, from first: Int = 0) -> [BinanceStreamName] {
        (first..<(first + count)).map { stream("s\($0)usdt@aggTrade") }
    }

    /// `count` distinct `/public` streams.
    static func publicStreams(_ count: Int, from first: Int = 0) -> [BinanceStreamName] {
        (first..<(first + count)).map { stream("s\($0)usdt@bookTicker") }
    }

    /// Expects `subscribe(streams)` to throw `code` without changing the pool.
    func expectRejected(
        _ pool: inout Pool,
        _ streams: [BinanceStreamName],
        code: StreamPoolError.Code = .poolExhausted,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = pool
        do {
            let plan = try pool.subscribe(streams)
            Issue.record("expected \(code), got \(plan.added.count) added", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, sourceLocation: sourceLocation)
        }
        #expect(pool == before, sourceLocation: sourceLocation)
    }

    func closeIfEmpty(_ pool: inout Pool, _ id: PoolConnectionID) -> Bool { pool.closeIfEmpty(id) }

    // MARK: Capacity boundaries

    @Test func twoHundredFitOneConnectionAndTheNextOpensASecond() throws {
        var pool = Pool(market: .usdm)
        let first = try pool.subscribe(Self.marketStreams(200))
        #expect(first.added.count == 200)
        #expect(first.newConnections == [.init(id: PoolConnectionID(1), route: .market)])
        #expect(first.subscribe.map(\.connection) == [PoolConnectionID(1)])
        #expect(first.subscribe[0].streams == Self.marketStreams(200))
        #expect(pool.connections.map(\.streams.count) == [200])

        let second = try pool.subscribe(Self.marketStreams(1, from: 200))
        #expect(second.newConnections == [.init(id: PoolConnectionID(2), route: .market)])
        #expect(second.subscribe == [.init(connection: PoolConnectionID(2), streams: Self.marketStreams(1, from: 200))])
        #expect(pool.connections.map(\.streams.count) == [200, 1])
        #expect(pool.subscriptionCount == 201)
    }

    @Test func twoHundredAndOneInOneRequestSplitAcrossTwoConnections() throws {
        var pool = Pool(market: .usdm)
        let plan = try pool.subscribe(Self.marketStreams(201))
        #expect(plan.newConnections.map(\.id.rawValue) == [1, 2])
        #expect(plan.subscribe.map(\.streams.count) == [200, 1])
    }

    @Test func fourThousandFillTwentyConnections() throws {
        var pool = Pool(market: .usdm)
        let plan = try pool.subscribe(Self.marketStreams(4000))
        #expect(plan.newConnections.count == 20)
        #expect(pool.connections.count == 20)
        #expect(pool.connections.allSatisfy { $0.streams.count == 200 && $0.route == .market && $0.state == .connecting })
        #expect(pool.subscriptionCount == 4000)
    }

    @Test func fourThousandAndOneIsPoolExhaustedAndChangesNothing() throws {
        var pool = Pool(market: .usdm)
        _ = try pool.subscribe(Self.marketStreams(4000))
        let before = pool
        let extra = Self.marketStreams(1, from: 4000)
        expectRejected(&pool, extra)
        #expect(pool == before)
        do {
            _ = try pool.subscribe(Self.marketStreams(2, from: 3999))
            Issue.record("expected poolExhausted")
        } catch {
            #expect(error.code == .poolExhausted)
            #expect(error.streams == extra)  // only the new stream is reported
        }
        #expect(pool == before)
    }

    @Test func aRequestThatOverflowsInTheMiddleIsRejectedWhole() throws {
        var pool = Pool(market: .usdm)
        _ = try pool.subscribe(Self.marketStreams(3900))
        let before = pool
        let request = Self.marketStreams(101, from: 3900)
        expectRejected(&pool, request)
        #expect(pool == before)
        #expect(pool.subscriptionCount == 3900)
        let fits = try pool.subscribe(Self.marketStreams(100, from: 3900))
        #expect(fits.added.count == 100)
        #expect(fits.newConnections.isEmpty)
        #expect(pool.subscriptionCount == 4000)
    }

    @Test func exhaustionCountsConnectionsNotJustStreams() throws {
        // 19 full market connections and one public connection with a single stream: room
        // for 199 public streams, none for market streams.
        var pool = Pool(market: .usdm)
        _ = try pool.subscribe(Self.marketStreams(3800))
        _ = try pool.subscribe(Self.publicStreams(1))
        let before = pool
        expectRejected(&pool, Self.marketStreams(1, from: 3800))
        #expect(pool == before)
        let plan = try pool.subscribe(Self.publicStreams(199, from: 1))
        #expect(plan.newConnections.isEmpty)
        #expect(plan.subscribe.map(\.connection) == [PoolConnectionID(20)])
    }

    @Test func smallerConfiguredLimits() throws {
        var configuration = StreamPoolConfiguration()
        configuration.maxConnections = 2
        configuration.maxStreamsPerConnection = 3
        var pool = Pool(market: .coinm, configuration: configuration)
        let streams = (0..<6).map { stream("s\($0)usd_perp@aggTrade", .coinm) }
        let plan = try pool.subscribe(streams)
        #expect(plan.subscribe.map(\.streams.count) == [3, 3])
        expectRejected(&pool, [stream("x_perp@aggTrade", .coinm)])
    }

    // MARK: Dedupe

    @Test func alreadySubscribedStreamsAreReportedNotResent() throws {
        var pool = Pool(market: .usdm)
        let a = stream("btcusdt@aggTrade"), b = stream("ethusdt@aggTrade"), c = stream("solusdt@aggTrade")
        _ = try pool.subscribe([a, b])
        let plan = try pool.subscribe([b, c, a, c, b])
        #expect(plan.added == [c])
        #expect(plan.already == [b, a])
        #expect(plan.subscribe == [.init(connection: PoolConnectionID(1), streams: [c])])
        #expect(plan.newConnections.isEmpty)
        #expect(pool.subscriptionCount == 3)

        let again = try pool.subscribe([a, b, c])
        #expect(again.added.isEmpty && again.subscribe.isEmpty && again.already == [a, b, c])
    }

    @Test func alreadySubscribedStreamsDoNotNeedCapacity() throws {
        var pool = Pool(market: .usdm)
        let all = Self.marketStreams(4000)
        _ = try pool.subscribe(all)
        let plan = try pool.subscribe(Array(all.prefix(10)))
        #expect(plan.already.count == 10)
    }

    @Test func streamsOfAnotherMarketAreRejected() throws {
        var pool = Pool(market: .usdm)
        let before = pool
        do {
            _ = try pool.subscribe([stream("btcusdt@aggTrade"), stream("btcusd_perp@aggTrade", .coinm)])
            Issue.record("expected wrongMarket")
        } catch {
            #expect(error.code == .wrongMarket)
            #expect(error.streams == [stream("btcusd_perp@aggTrade", .coinm)])
        }
        #expect(pool == before)
    }

    // MARK: Routes

    @Test func routesNeverShareAConnection() throws {
        var pool = Pool(market: .usdm)
        let plan = try pool.subscribe([
            stream("btcusdt@aggTrade"), stream("btcusdt@depth@100ms"), stream("btcusdt@markPrice@1s"), stream("!bookTicker"),
        ])
        #expect(plan.newConnections == [.init(id: PoolConnectionID(1), route: .market), .init(id: PoolConnectionID(2), route: .public)])
        #expect(plan.subscribe == [
            .init(connection: PoolConnectionID(1), streams: [stream("btcusdt@aggTrade"), stream("btcusdt@markPrice@1s")]),
            .init(connection: PoolConnectionID(2), streams: [stream("btcusdt@depth@100ms"), stream("!bookTicker")]),
        ])
        for connection in pool.connections {
            #expect(connection.streams.allSatisfy { StreamRouteTable.binanceDefaults.route(for: $0) == connection.route })
        }
        // A public connection with room never takes market streams.
        let more = try pool.subscribe([stream("ethusdt@kline_1m")])
        #expect(more.subscribe.map(\.connection) == [PoolConnectionID(1)])
    }

    @Test func routeTableOverridesArehonoured() throws {
        var configuration = StreamPoolConfiguration()
        configuration.routeTable[.trade] = .market
        var pool = Pool(market: .usdm, configuration: configuration)
        _ = try pool.subscribe([stream("btcusdt@aggTrade"), stream("btcusdt@trade")])
        #expect(pool.connections.map(\.route) == [.market])
    }

    @Test func coinmUsesOneUnroutedClass() throws {
        var pool = Pool(market: .coinm)
        _ = try pool.subscribe([stream("btcusd_perp@aggTrade", .coinm), stream("btcusd_perp@depth@100ms", .coinm)])
        #expect(pool.connections.map(\.route) == [.unrouted])
        #expect(pool.connections[0].streams.count == 2)
    }

    @Test func fillsExistingConnectionsLowestIDFirst() throws {
        var pool = Pool(market: .usdm)
        _ = try pool.subscribe(Self.marketStreams(400))
        _ = pool.unsubscribe(Array(Self.marketStreams(400).prefix(5)))   // 5 free on #1
        _ = pool.unsubscribe(Array(Self.marketStreams(400).suffix(3)))   // 3 free on #2
        let plan = try pool.subscribe(Self.marketStreams(7, from: 1000))
        #expect(plan.subscribe.map(\.connection) == [PoolConnectionID(1), PoolConnectionID(2)])
        #expect(plan.subscribe.map(\.streams.count) == [5, 2])
        #expect(plan.newConnections.isEmpty)
    }

    // MARK: Unsubscribe and empty connections

    @Test func unsubscribeReportsRemovedAbsentAndEmptiedConnections() throws {
        var pool = Pool(market: .usdm)
        let a = stream("btcusdt@aggTrade"), b = stream("btcusdt@bookTicker"), c = stream("ethusdt@aggTrade")
        _ = try pool.subscribe([a, b, c])
        let plan = pool.unsubscribe([b, stream("xrpusdt@aggTrade"), a, b])
        #expect(plan.removed == [b, a])
        #expect(plan.absent == [stream("xrpusdt@aggTrade")])
        #expect(plan.unsubscribe == [
            .init(connection: PoolConnectionID(1), streams: [a]),
            .init(connection: PoolConnectionID(2), streams: [b]),
        ])
        #expect(plan.emptied == [PoolConnectionID(2)])
        #expect(pool.subscriptionCount == 1)
        #expect(pool.subscription(a) == nil)
        #expect(pool.subscription(c)?.connection == PoolConnectionID(1))
    }

    @Test func anEmptyConnectionIsClosedAfterTheLingerUnlessReused() throws {
        var pool = Pool(market: .usdm)
        let a = stream("btcusdt@aggTrade"), b = stream("ethusdt@aggTrade")
        _ = try pool.subscribe([a])
        pool.connectionOpened(PoolConnectionID(1))
        #expect(pool.unsubscribe([a]).emptied == [PoolConnectionID(1)])
        // Reused during the linger: no new connection, the close is cancelled.
        let plan = try pool.subscribe([b])
        #expect(plan.newConnections.isEmpty)
        #expect(plan.subscribe == [.init(connection: PoolConnectionID(1), streams: [b])])
        #expect(!closeIfEmpty(&pool, PoolConnectionID(1)))
        // Emptied again and the linger passes: closing, then gone, slot freed.
        _ = pool.unsubscribe([b])
        #expect(closeIfEmpty(&pool, PoolConnectionID(1)))
        #expect(pool.connection(PoolConnectionID(1))?.state == .closing)
        #expect(!closeIfEmpty(&pool, PoolConnectionID(1)))
        // A closing connection takes no streams.
        let next = try pool.subscribe([a])
        #expect(next.newConnections == [.init(id: PoolConnectionID(2), route: .market)])
        #expect(pool.connectionClosed(PoolConnectionID(1)).isEmpty)
        #expect(pool.connections.map(\.id) == [PoolConnectionID(2)])
    }

    @Test func closingConnectionsCountUntilClosed() throws {
        var configuration = StreamPoolConfiguration()
        configuration.maxConnections = 1
        var pool = Pool(market: .usdm, configuration: configuration)
        _ = try pool.subscribe([stream("btcusdt@aggTrade")])
        _ = pool.unsubscribe([stream("btcusdt@aggTrade")])
        #expect(closeIfEmpty(&pool, PoolConnectionID(1)))
        expectRejected(&pool, [stream("ethusdt@aggTrade")])
        pool.connectionClosed(PoolConnectionID(1))
        #expect(try pool.subscribe([stream("ethusdt@aggTrade")]).newConnections.map(\.id) == [PoolConnectionID(2)])
    }

    // MARK: Subscription states

    @Test func subscriptionStatesFollowAcksAndConnectionEvents() throws {
        var pool = Pool(market: .usdm)
        let a = stream("btcusdt@aggTrade"), b = stream("ethusdt@aggTrade")
        _ = try pool.subscribe([b, a])
        let id = PoolConnectionID(1)
        #expect(pool.subscriptions == [
            .init(stream: a, state: .pending, connection: id),
            .init(stream: b, state: .pending, connection: id),
        ])
        pool.connectionOpened(id)
        #expect(pool.connection(id)?.state == .open)
        #expect(pool.setState(.confirmed, of: [a], on: id) == [a])
        #expect(pool.setState(.failed(reason: "error 2"), of: [b], on: id) == [b])
        #expect(pool.subscription(a)?.state == .confirmed)
        #expect(pool.subscription(b)?.state == .failed(reason: "error 2"))
        // An ack from another connection does not touch these streams.
        #expect(pool.setState(.confirmed, of: [b], on: PoolConnectionID(9)).isEmpty)
        #expect(pool.subscription(b)?.state == .failed(reason: "error 2"))

        // Drop: streams failed (reported), connection reconnecting; reopen: pending again.
        #expect(pool.connectionLost(id, reason: "connection lost") == [a, b])
        #expect(pool.connection(id)?.state == .reconnecting)
        #expect(pool.subscriptions.allSatisfy { $0.state == .failed(reason: "connection lost") })
        pool.connectionOpened(id)
        #expect(pool.subscriptions.allSatisfy { $0.state == .pending })
        #expect(pool.subscriptionCount == 2)
    }

    @Test func unsubscribedStreamsIgnoreLateAcks() throws {
        var pool = Pool(market: .usdm)
        let a = stream("btcusdt@aggTrade")
        _ = try pool.subscribe([a])
        _ = pool.unsubscribe([a])
        #expect(pool.setState(.confirmed, of: [a], on: PoolConnectionID(1)).isEmpty)
        #expect(pool.subscriptions.isEmpty)
    }
}

import Testing
@testable import BridgeCore

@Suite("ConnectionLifecycleStateMachine")
struct ConnectionLifecycleStateMachineTests {
    typealias Lifecycle = ConnectionLifecycleStateMachine<FakeInstant>
    typealias Quota = ConnectionAttemptQuota<FakeInstant>
    static let id = PoolConnectionID(7)

    /// A quota that never delays (to test the backoff alone).
    static func freeQuota() -> Quota { Quota(interval: .nanoseconds(1)) }

    /// A machine opened at `openedAt`.
    static func open(at openedAt: FakeInstant, _ configuration: StreamPoolConfiguration = StreamPoolConfiguration()) -> Lifecycle {
        var lifecycle = Lifecycle(connection: id, configuration: configuration)
        var quota = freeQuota()
        lifecycle.start(at: openedAt)
        let actions = lifecycle.poll(at: openedAt, attempts: &quota)
        precondition(actions == [.connect(deadline: openedAt.advanced(by: configuration.connectTimeout))])
        lifecycle.connected(at: openedAt)
        return lifecycle
    }

    // MARK: Connecting

    @Test func connectIsBoundedByTheConnectTimeout() {
        var lifecycle = Lifecycle(connection: Self.id, configuration: StreamPoolConfiguration())
        var quota = Self.freeQuota()
        #expect(lifecycle.poll(at: .zero, attempts: &quota).isEmpty)  // not started
        lifecycle.start(at: .zero)
        #expect(lifecycle.nextDeadline == .zero)
        #expect(lifecycle.poll(at: .zero, attempts: &quota) == [.connect(deadline: .s(5))])
        #expect(lifecycle.nextDeadline == .s(5))
        #expect(lifecycle.poll(at: FakeInstant.s(5).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(5), attempts: &quota) == [.close(.connectTimeout)])
        #expect(lifecycle.state == .closingToReconnect(.connectTimeout))
        #expect(lifecycle.closed(at: .s(5), unitRandom: 0).isEmpty)
        #expect(lifecycle.state == .waitingToConnect(notBefore: .ms(5500)))
    }

    @Test func theAttemptQuotaDelaysConnects() {
        var quota = Quota()
        var first = Lifecycle(connection: PoolConnectionID(1), configuration: StreamPoolConfiguration())
        var second = Lifecycle(connection: PoolConnectionID(2), configuration: StreamPoolConfiguration())
        first.start(at: .zero)
        second.start(at: .zero)
        #expect(first.poll(at: .zero, attempts: &quota) == [.connect(deadline: .s(5))])
        #expect(second.poll(at: .zero, attempts: &quota).isEmpty)
        #expect(second.nextDeadline == .s(1))
        #expect(second.poll(at: FakeInstant.s(1).justBefore, attempts: &quota).isEmpty)
        #expect(second.poll(at: .s(1), attempts: &quota) == [.connect(deadline: .s(6))])
    }

    // MARK: Backoff

    @Test func reconnectsFollowTheBackoffTableOneTickBeforeAndAtEachDeadline() {
        var lifecycle = Self.open(at: .zero)
        var quota = Self.freeQuota()
        var now = FakeInstant.s(100)  // healthy: the first wait is row 0
        #expect(lifecycle.closed(at: now, unitRandom: 0.5).isEmpty)
        let expectedDelays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)]
        for (index, base) in expectedDelays.enumerated() {
            let deadline = now.advanced(by: base + .milliseconds(125))
            #expect(lifecycle.nextDeadline == deadline, "row \(index)")
            #expect(lifecycle.poll(at: deadline.justBefore, attempts: &quota).isEmpty, "row \(index)")
            #expect(lifecycle.poll(at: deadline, attempts: &quota) == [.connect(deadline: deadline.advanced(by: .seconds(5)))])
            now = deadline.advanced(by: .milliseconds(10))
            #expect(lifecycle.closed(at: now, unitRandom: 0.5).isEmpty)  // refused
            #expect(lifecycle.consecutiveFailures == index + 2)
        }
    }

    @Test func failuresResetAfterAHealthyConnection() {
        var configuration = StreamPoolConfiguration()
        configuration.healthyConnectionDuration = .seconds(30)
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .zero, configuration)
        _ = lifecycle.closed(at: .s(1), unitRandom: 0)  // short-lived: counts as a failure
        #expect(lifecycle.state == .waitingToConnect(notBefore: .ms(1500)))
        _ = lifecycle.poll(at: .ms(1500), attempts: &quota)
        lifecycle.connected(at: .s(2))
        _ = lifecycle.closed(at: FakeInstant.s(32).justBefore, unitRandom: 0)  // 1 tick short of healthy
        #expect(lifecycle.state == .waitingToConnect(notBefore: FakeInstant.s(33).justBefore))
        _ = lifecycle.poll(at: .s(40), attempts: &quota)
        lifecycle.connected(at: .s(40))
        _ = lifecycle.closed(at: .s(70), unitRandom: 0)  // exactly healthy: back to row 0
        #expect(lifecycle.state == .waitingToConnect(notBefore: .ms(70_500)))
        #expect(lifecycle.consecutiveFailures == 1)
    }

    @Test func givesUpAfterMaxAttempts() {
        var configuration = StreamPoolConfiguration()
        configuration.backoff = ReconnectBackoff(maxAttempts: 2)
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .zero, configuration)
        #expect(lifecycle.closed(at: .s(100), unitRandom: 0).isEmpty)
        _ = lifecycle.poll(at: .s(101), attempts: &quota)
        #expect(lifecycle.closed(at: .s(101), unitRandom: 0).isEmpty)
        _ = lifecycle.poll(at: .s(103), attempts: &quota)
        #expect(lifecycle.closed(at: .s(103), unitRandom: 0) == [.giveUp(failures: 2)])
        #expect(lifecycle.state == .closed)
    }

    // MARK: Heartbeats

    @Test func pingsEveryIntervalAndClosesWhenIdle() {
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .zero)
        #expect(lifecycle.nextDeadline == .s(180))
        #expect(lifecycle.poll(at: FakeInstant.s(180).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(180), attempts: &quota) == [.sendPing])
        #expect(lifecycle.poll(at: .s(180), attempts: &quota).isEmpty)
        // No frame since the open: idle at 210 s.
        #expect(lifecycle.nextDeadline == .s(210))
        #expect(lifecycle.poll(at: FakeInstant.s(210).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(210), attempts: &quota) == [.close(.idleTimeout)])
        #expect(lifecycle.closed(at: .s(210), unitRandom: 0).isEmpty)
        #expect(lifecycle.state == .waitingToConnect(notBefore: .ms(210_500)))
    }

    @Test func aPongOrAnyFrameResetsTheIdleTimer() {
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .zero)
        _ = lifecycle.poll(at: .s(180), attempts: &quota)
        #expect(lifecycle.frameReceived(at: .s(181), isData: false) == nil)  // the pong
        #expect(lifecycle.poll(at: .s(210), attempts: &quota).isEmpty)
        #expect(lifecycle.nextDeadline == .s(360))  // next ping before the idle deadline 391 s
        #expect(lifecycle.poll(at: .s(360), attempts: &quota) == [.sendPing])
        _ = lifecycle.frameReceived(at: .s(380), isData: true)
        #expect(lifecycle.poll(at: .s(540), attempts: &quota) == [.sendPing])  // unanswered
        #expect(lifecycle.poll(at: FakeInstant.s(590).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(590), attempts: &quota) == [.close(.idleTimeout)])
    }

    // MARK: Gap window

    @Test func theGapRunsFromTheLastDataBeforeTheDropToTheFirstDataAfter() {
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .zero)
        #expect(lifecycle.frameReceived(at: .s(10), isData: true) == nil)
        #expect(lifecycle.frameReceived(at: .s(15), isData: false) == nil)  // a pong is not data
        #expect(lifecycle.closed(at: .s(20), unitRandom: 0).isEmpty)
        #expect(lifecycle.currentGapStart == .s(10))
        // The first reconnection fails, the second works.
        _ = lifecycle.poll(at: .ms(20_500), attempts: &quota)
        _ = lifecycle.closed(at: .s(21), unitRandom: 0)
        _ = lifecycle.poll(at: .s(22), attempts: &quota)
        lifecycle.connected(at: .s(22))
        #expect(lifecycle.frameReceived(at: .ms(22_100), isData: false) == nil)  // the SUBSCRIBE ack
        let reconnected = lifecycle.frameReceived(at: .ms(22_200), isData: true)
        #expect(reconnected == .init(connection: Self.id, gapStart: .s(10), gapEnd: .ms(22_200), failedAttempts: 1))
        #expect(lifecycle.frameReceived(at: .ms(22_300), isData: true) == nil)  // reported once
        #expect(lifecycle.currentGapStart == nil)
    }

    @Test func aConnectionThatNeverDeliveredStartsItsGapAtTheOpen() {
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .s(3))
        _ = lifecycle.closed(at: .s(50), unitRandom: 0)
        _ = lifecycle.poll(at: .s(51), attempts: &quota)
        lifecycle.connected(at: .s(51))
        #expect(lifecycle.frameReceived(at: .s(52), isData: true)?.gapStart == .s(3))
    }

    @Test func noGapIsReportedForTheFirstConnection() {
        var lifecycle = Self.open(at: .zero)
        #expect(lifecycle.frameReceived(at: .s(1), isData: true) == nil)
    }

    // MARK: Rotation

    @Test func rotationOpensAReplacementAt23HoursAndSwitchesOver() {
        var quota = Self.freeQuota()
        var lifecycle = Self.open(at: .s(10))
        let due = FakeInstant.s(10 + 23 * 3600)
        // Keep it alive with frames so that only the rotation matters.
        var now = FakeInstant.s(10)
        while now < due.justBefore {
            _ = lifecycle.frameReceived(at: now, isData: true)
            let actions = lifecycle.poll(at: now, attempts: &quota)
            #expect(!actions.contains(.openReplacement))
            now = now.advanced(by: .seconds(60))
        }
        _ = lifecycle.frameReceived(at: due.justBefore, isData: true)
        #expect(!lifecycle.poll(at: due.justBefore, attempts: &quota).contains(.openReplacement))
        #expect(lifecycle.poll(at: due, attempts: &quota).contains(.openReplacement))
        #expect(lifecycle.isRotating)
        #expect(!lifecycle.poll(at: due, attempts: &quota).contains(.openReplacement))  // once
        #expect(lifecycle.replacementReady(at: due.advanced(by: .seconds(3))) == [.switchOver])
        #expect(lifecycle.state == .closing)
        #expect(lifecycle.closed(at: due.advanced(by: .seconds(4)), unitRandom: 0).isEmpty)
        #expect(lifecycle.state == .closed)  // no reconnect after a switch-over
    }

    @Test func ifTheOldConnectionDiesFirstItReconnectsWithAGapWindow() {
        var quota = Self.freeQuota()
        var configuration = StreamPoolConfiguration()
        configuration.connectionLifetime = .seconds(1000)
        configuration.rotationMargin = .seconds(100)
        configuration.idleTimeout = .seconds(2000)
        configuration.pingInterval = .seconds(1500)
        var lifecycle = Self.open(at: .zero, configuration)
        _ = lifecycle.frameReceived(at: .s(899), isData: true)
        #expect(lifecycle.poll(at: .s(900), attempts: &quota) == [.openReplacement])
        #expect(lifecycle.closed(at: .s(905), unitRandom: 0) == [.cancelReplacement])
        #expect(lifecycle.state == .waitingToConnect(notBefore: .ms(905_500)))
        #expect(lifecycle.replacementReady(at: .s(906)).isEmpty)  // too late: no switch-over
        _ = lifecycle.poll(at: .s(906), attempts: &quota)
        lifecycle.connected(at: .s(906))
        #expect(lifecycle.frameReceived(at: .s(907), isData: true)?.gapStart == .s(899))
        // The new session has its own rotation clock.
        #expect(lifecycle.poll(at: FakeInstant.s(906 + 900).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(906 + 900), attempts: &quota) == [.openReplacement])
    }

    @Test func aReplacementThatIsNotReadyInTimeIsCancelledAndRetried() {
        var quota = Self.freeQuota()
        var configuration = StreamPoolConfiguration()
        configuration.connectionLifetime = .seconds(1000)
        configuration.rotationMargin = .seconds(100)
        configuration.rotationOverlapTimeout = .seconds(60)
        configuration.idleTimeout = .seconds(5000)
        configuration.pingInterval = .seconds(4000)
        var lifecycle = Self.open(at: .zero, configuration)
        #expect(lifecycle.poll(at: .s(900), attempts: &quota) == [.openReplacement])
        #expect(lifecycle.poll(at: FakeInstant.s(960).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(960), attempts: &quota) == [.cancelReplacement])
        #expect(!lifecycle.isRotating)
        #expect(lifecycle.poll(at: FakeInstant.s(1020).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(1020), attempts: &quota) == [.openReplacement])
    }

    @Test func aFailedReplacementIsRetriedAfterTheOverlapTimeout() {
        var quota = Self.freeQuota()
        var configuration = StreamPoolConfiguration()
        configuration.connectionLifetime = .seconds(1000)
        configuration.rotationMargin = .seconds(100)
        configuration.idleTimeout = .seconds(5000)
        configuration.pingInterval = .seconds(4000)
        var lifecycle = Self.open(at: .zero, configuration)
        #expect(lifecycle.poll(at: .s(900), attempts: &quota) == [.openReplacement])
        lifecycle.replacementFailed(at: .s(910))
        #expect(!lifecycle.isRotating)
        #expect(lifecycle.replacementReady(at: .s(911)).isEmpty)
        #expect(lifecycle.nextDeadline == .s(970))
        #expect(lifecycle.poll(at: FakeInstant.s(970).justBefore, attempts: &quota).isEmpty)
        #expect(lifecycle.poll(at: .s(970), attempts: &quota) == [.openReplacement])
    }

    @Test func closeStopsForGood() {
        var lifecycle = Self.open(at: .zero)
        #expect(lifecycle.close() == [.close(.shutdown)])
        #expect(lifecycle.closed(at: .s(1), unitRandom: 0).isEmpty)
        #expect(lifecycle.state == .closed)
        #expect(lifecycle.nextDeadline == nil)
    }

    // MARK: The pool's side of a rotation

    @Test func poolReplacementMirrorsStreamsAndSwitchesOver() throws {
        var pool = StreamPoolStateMachine(market: .usdm)
        let a = stream("btcusdt@aggTrade"), b = stream("ethusdt@aggTrade"), c = stream("solusdt@aggTrade")
        _ = try pool.subscribe([a, b])
        let old = PoolConnectionID(1)
        #expect(pool.beginReplacement(of: old) == nil)  // not open yet
        pool.connectionOpened(old)
        pool.setState(.confirmed, of: [a, b], on: old)
        let begun = pool.beginReplacement(of: old)
        let replacement = try #require(begun)
        #expect(replacement == .init(old: old, new: PoolConnectionID(2), route: .market, streams: [a, b]))
        #expect(pool.beginReplacement(of: old) == nil)  // one at a time
        #expect(pool.countedConnectionCount == 1)
        // Changes during the overlap are mirrored on the replacement.
        let plan = try pool.subscribe([c])
        #expect(plan.subscribe == [.init(connection: old, streams: [c]), .init(connection: replacement.new, streams: [c])])
        let removal = pool.unsubscribe([b])
        #expect(removal.unsubscribe == [.init(connection: old, streams: [b]), .init(connection: replacement.new, streams: [b])])
        #expect(removal.emptied.isEmpty)
        pool.connectionOpened(replacement.new)
        #expect(pool.subscription(a)?.state == .confirmed)  // still the old connection's state
        #expect(pool.completeReplacement(of: old) == replacement.new)
        #expect(pool.subscriptions.map(\.connection) == [replacement.new, replacement.new])
        #expect(pool.subscriptions.allSatisfy { $0.state == .confirmed })
        #expect(pool.connection(old)?.state == .closing)
        #expect(pool.connection(old)?.streams.isEmpty == true)
        pool.connectionClosed(old)
        #expect(pool.connections.map(\.id) == [replacement.new])
        #expect(pool.connection(replacement.new)?.streams == [a, c])
        #expect(pool.connection(replacement.new)?.replacing == nil)
    }

    @Test func poolAbandonedReplacementLeavesTheOldConnectionUntouched() throws {
        var pool = StreamPoolStateMachine(market: .usdm)
        let a = stream("btcusdt@aggTrade")
        _ = try pool.subscribe([a])
        let old = PoolConnectionID(1)
        pool.connectionOpened(old)
        let begun = pool.beginReplacement(of: old)
        let replacement = try #require(begun)
        #expect(pool.abandonReplacement(of: old) == replacement.new)
        #expect(pool.connection(replacement.new)?.state == .closing)
        #expect(pool.connection(old)?.replacement == nil)
        pool.connectionClosed(replacement.new)
        #expect(pool.connections.map(\.id) == [old])
        #expect(pool.subscription(a)?.connection == old)
        #expect(pool.beginReplacement(of: old)?.new == PoolConnectionID(3))
    }
}

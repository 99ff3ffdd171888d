import Testing
@testable import BridgeCore

@Suite("StreamPoolConfiguration")
struct StreamPoolConfigurationTests {
    @Test func defaultsAreBinancesAndTheSeeds() {
        let configuration = StreamPoolConfiguration()
        #expect(configuration.maxConnections == 20)
        #expect(configuration.maxStreamsPerConnection == 200)
        #expect(configuration.capacity == 4000)
        #expect(configuration.maxStreamsPerRequest == 200)
        #expect(configuration.requestsPerSecond == 5)
        #expect(configuration.ackTimeout == .seconds(5))
        #expect(configuration.ackRetries == 2)
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.backoff == ReconnectBackoff())
        #expect(configuration.connectionAttemptInterval == .milliseconds(200))
        #expect(configuration.connectionLifetime == .seconds(86_400))
        #expect(configuration.connectionLifetime - configuration.rotationMargin == .seconds(23 * 3600))
        #expect(configuration.pingInterval == .seconds(180))
        #expect(configuration.idleTimeout > configuration.pingInterval)
        #expect(configuration.routeTable == .binanceDefaults)
        #expect(configuration.problems.isEmpty)
    }

    @Test func quotasAreBuiltFromTheConfiguration() {
        var configuration = StreamPoolConfiguration()
        configuration.requestsPerSecond = 4
        configuration.connectionAttemptInterval = .seconds(2)
        var messages = SubscriptionMessageQuota<PoolConnectionID, FakeInstant>(configuration: configuration)
        #expect(messages.messagesPerSecond == 4)
        #expect(messages.acquire(PoolConnectionID(1), at: .zero) == .sendNow)
        #expect(messages.acquire(PoolConnectionID(1), at: .zero) == .waitUntil(.ms(250)))
        var attempts = ConnectionAttemptQuota<FakeInstant>(configuration: configuration)
        #expect(attempts.acquire(at: .zero) == .sendNow)
        #expect(attempts.acquire(at: FakeInstant.s(2).justBefore) == .waitUntil(.s(2)))
    }

    @Test func problemsNameEachInconsistency() {
        var configuration = StreamPoolConfiguration()
        configuration.requestsPerSecond = 10
        configuration.idleTimeout = configuration.pingInterval
        configuration.rotationMargin = configuration.connectionLifetime
        configuration.maxStreamsPerConnection = 1025
        let problems = configuration.problems
        #expect(problems.count == 4)
        #expect(problems.contains { $0.hasPrefix("requestsPerSecond") })
        #expect(problems.contains { $0.hasPrefix("idleTimeout") })
        #expect(problems.contains { $0.hasPrefix("rotationMargin") })
        #expect(problems.contains { $0.hasPrefix("maxStreamsPerConnection") })
    }
}

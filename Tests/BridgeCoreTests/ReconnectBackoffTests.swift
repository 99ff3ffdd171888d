import Testing
@testable import BridgeCore

@Suite("ReconnectBackoff and quotas")
struct ReconnectBackoffTests {
    // MARK: Backoff table (one row per value)

    static let table: [(failures: Int, base: Duration)] = [
        (0, .milliseconds(500)), (1, .seconds(1)), (2, .seconds(2)), (3, .seconds(4)), (4, .seconds(5)), (5, .seconds(5)),
        (50, .seconds(5)), (10_000, .seconds(5)),
    ]

    @Test(arguments: table)
    func delayTableRow(failures: Int, base: Duration) {
        let backoff = ReconnectBackoff()
        #expect(backoff.delay(afterFailures: failures, unitRandom: 0) == base)
        #expect(backoff.delay(afterFailures: failures, unitRandom: 0.5) == base + .milliseconds(125))
        #expect(backoff.delay(afterFailures: failures, unitRandom: 1) == base + .milliseconds(250))
    }

    @Test func defaultsAreTheSeeds() {
        let backoff = ReconnectBackoff()
        #expect(backoff.initialDelay == .milliseconds(500))
        #expect(backoff.maxDelay == .seconds(5))
        #expect(backoff.factor == 2)
        #expect(backoff.jitter == .milliseconds(250))
        #expect(backoff.maxAttempts == nil)
        #expect(backoff.allowsAttempt(afterFailures: 1_000_000))
    }

    @Test func jitterIsClampedAndNegativeFailuresCountAsZero() {
        let backoff = ReconnectBackoff()
        #expect(backoff.delay(afterFailures: 0, unitRandom: 7) == .milliseconds(750))
        #expect(backoff.delay(afterFailures: 0, unitRandom: -1) == .milliseconds(500))
        #expect(backoff.delay(afterFailures: -3, unitRandom: 0) == .milliseconds(500))
    }

    @Test func attemptLimit() {
        let backoff = ReconnectBackoff(maxAttempts: 3)
        #expect(backoff.allowsAttempt(afterFailures: 2))
        #expect(!backoff.allowsAttempt(afterFailures: 3))
    }

    // MARK: Pacing

    @Test func pacedQuotaOneTickBeforeAndAtEachDeadline() {
        var quota = PacedQuota<FakeInstant>(permits: 5, per: .seconds(1))
        #expect(quota.interval == .milliseconds(200))
        #expect(quota.acquire(at: .zero) == .sendNow)
        var deadline = FakeInstant.ms(200)
        for _ in 0..<10 {
            #expect(quota.acquire(at: deadline.justBefore) == .waitUntil(deadline))
            #expect(quota.check(at: deadline) == .sendNow)
            #expect(quota.acquire(at: deadline) == .sendNow)
            deadline = deadline.advanced(by: .milliseconds(200))
        }
    }

    @Test func pacedQuotaNeverExceedsItsRateInAnyWindow() {
        var quota = PacedQuota<FakeInstant>(permits: 5, per: .seconds(1))
        var sent: [FakeInstant] = []
        var now = FakeInstant.zero
        // A caller hammering every millisecond for 3 s.
        while now < .s(3) {
            if quota.acquire(at: now) == .sendNow { sent.append(now) }
            now = now.advanced(by: .milliseconds(1))
        }
        #expect(sent.count == 15)
        for (index, start) in sent.enumerated() {
            let inWindow = sent[index...].prefix { $0 < start.advanced(by: .seconds(1)) }
            #expect(inWindow.count <= 5)
        }
    }

    @Test func idleTimeDoesNotAccumulateABurstWhenBurstIsOne() {
        var quota = PacedQuota<FakeInstant>(interval: .milliseconds(200))
        #expect(quota.acquire(at: .zero) == .sendNow)
        #expect(quota.acquire(at: .s(10)) == .sendNow)
        #expect(quota.acquire(at: .s(10)) == .waitUntil(.ms(10_200)))
    }

    @Test func burstAllowsBackToBackPermitsAfterIdle() {
        var quota = PacedQuota<FakeInstant>(interval: .seconds(1), burst: 3)
        #expect(quota.acquire(at: .zero) == .sendNow)
        #expect(quota.acquire(at: .zero) == .sendNow)
        #expect(quota.acquire(at: .zero) == .sendNow)
        #expect(quota.acquire(at: .zero) == .waitUntil(.s(1)))
        #expect(quota.acquire(at: .s(1).justBefore) == .waitUntil(.s(1)))
        #expect(quota.acquire(at: .s(1)) == .sendNow)
    }

    @Test func connectionAttemptsAreOnePerSecond() {
        var quota = ConnectionAttemptQuota<FakeInstant>()
        #expect(quota.interval == .seconds(1))
        #expect(quota.acquire(at: .ms(100)) == .sendNow)
        for second in Int64(1)...20 {
            let deadline = FakeInstant.ms(100 + 1000 * second)
            #expect(quota.acquire(at: deadline.justBefore) == .waitUntil(deadline))
            #expect(quota.acquire(at: deadline) == .sendNow)
        }
        #expect(quota.check(at: .s(100)) == .sendNow)
    }

    @Test func subscriptionMessagesArePacedPerKey() {
        var quota = SubscriptionMessageQuota<Int, FakeInstant>()
        #expect(quota.messagesPerSecond == 5)
        #expect(quota.acquire(1, at: .zero) == .sendNow)
        #expect(quota.acquire(1, at: .zero) == .waitUntil(.ms(200)))
        // Another connection is not held back by the first.
        #expect(quota.acquire(2, at: .ms(1)) == .sendNow)
        #expect(quota.acquire(1, at: FakeInstant.ms(200).justBefore) == .waitUntil(.ms(200)))
        #expect(quota.acquire(1, at: .ms(200)) == .sendNow)
        #expect(quota.check(2, at: FakeInstant.ms(201).justBefore) == .waitUntil(.ms(201)))
        #expect(quota.check(2, at: .ms(201)) == .sendNow)
        #expect(quota.keyCount == 2)
        quota.remove(1)
        #expect(quota.keyCount == 1)
        #expect(quota.acquire(1, at: .ms(201)) == .sendNow)
    }
}

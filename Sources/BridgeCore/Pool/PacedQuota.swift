/// A pacing rate limiter: at most one permit per `interval`, with up to `burst` permits
/// taken back to back after a quiet period (`burst == 1`: strictly spaced, no bursts).
///
/// It is the generic cell rate algorithm, a token bucket kept as one instant (the
/// "theoretical arrival time" `tat`): a permit at `now` is allowed when
/// `now ≥ tat − interval × (burst − 1)`, and then `tat = max(tat, now) + interval`. With
/// `burst == 1` any window of length `w` holds at most `⌈w / interval⌉` permits (a sliding
/// window), which is how 5 per second stays safely under Binance's 10 per second.
/// Time is always passed in; the quota never reads a clock.
public struct PacedQuota<Instant: InstantProtocol>: Sendable, Equatable
where Instant.Duration == Duration, Instant: Sendable {
    /// Spacing between permits.
    public let interval: Duration
    /// Permits that may be taken back to back (≥ 1).
    public let burst: Int
    private var theoreticalArrival: Instant?

    /// A quota of one permit per `interval`, `burst` at most back to back.
    public init(interval: Duration, burst: Int = 1) {
        precondition(interval > .zero && burst >= 1)
        self.interval = interval
        self.burst = burst
    }

    /// A quota of `count` evenly spaced permits per `period`, without bursts.
    public init(permits count: Int, per period: Duration) {
        precondition(count > 0)
        self.init(interval: period / count)
    }

    /// Takes a permit at `now` if one is available, else says when one will be.
    public mutating func acquire(at now: Instant) -> QuotaDecision<Instant> {
        let decision = check(at: now)
        if decision == .sendNow {
            let tat = theoreticalArrival.map { max($0, now) } ?? now
            theoreticalArrival = tat.advanced(by: interval)
        }
        return decision
    }

    /// What ``acquire(at:)`` would answer at `now`, without taking anything.
    public func check(at now: Instant) -> QuotaDecision<Instant> {
        guard let tat = theoreticalArrival else { return .sendNow }
        let allowedAt = tat.advanced(by: .zero - interval * (burst - 1))
        return now >= allowedAt ? .sendNow : .waitUntil(allowedAt)
    }
}

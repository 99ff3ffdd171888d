/// Exponential backoff between reconnection attempts of one pool connection (the seed's
/// parameters).
///
/// `delay(n) = min(maxDelay, initialDelay × factorⁿ) + jitter × u`, with `n` the number of
/// consecutive failures before this attempt and `u` uniform in [0, 1): the jitter spreads the
/// reconnects of up to 20 connections dropped together. With the defaults:
///
/// | n (failures) | 0 | 1 | 2 | 3 | 4+ |
/// |---|---|---|---|---|---|
/// | base delay | 500 ms | 1 s | 2 s | 4 s | 5 s |
///
/// plus 0–250 ms of jitter. Attempts never stop by default (`maxAttempts == nil`); the
/// connection attempt quota (about one connect per second) still applies on top.
public struct ReconnectBackoff: Sendable, Equatable {
    /// Delay after the first failure.
    public var initialDelay: Duration
    /// Cap on the exponential part.
    public var maxDelay: Duration
    /// Growth per consecutive failure (≥ 1).
    public var factor: Double
    /// Upper bound of the random delay added to each wait.
    public var jitter: Duration
    /// Consecutive failed attempts after which the connection gives up; nil: never.
    public var maxAttempts: Int?

    /// The seed's backoff: 500 ms, doubling, capped at 5 s, 0–250 ms of jitter, unlimited.
    public init(
        initialDelay: Duration = .milliseconds(500),
        maxDelay: Duration = .seconds(5),
        factor: Double = 2,
        jitter: Duration = .milliseconds(250),
        maxAttempts: Int? = nil
    ) {
        precondition(initialDelay >= .zero && maxDelay >= initialDelay && factor >= 1 && jitter >= .zero)
        precondition(maxAttempts.map { $0 > 0 } ?? true)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.factor = factor
        self.jitter = jitter
        self.maxAttempts = maxAttempts
    }

    /// The wait before the next attempt after `failures` consecutive failures (0 for the
    /// wait after the first drop of a healthy connection); `unitRandom` in [0, 1) scales the
    /// jitter (values outside are clamped).
    public func delay(afterFailures failures: Int, unitRandom: Double) -> Duration {
        var base = initialDelay
        var remaining = max(0, failures)
        while remaining > 0 && base < maxDelay {
            base = base * factor
            remaining -= 1
        }
        return min(base, maxDelay) + jitter * max(0, min(unitRandom, 1))
    }

    /// Whether another attempt is allowed after `failures` consecutive failures.
    public func allowsAttempt(afterFailures failures: Int) -> Bool {
        maxAttempts.map { failures < $0 } ?? true
    }
}

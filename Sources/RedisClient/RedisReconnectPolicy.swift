/// Exponential backoff between reconnection attempts.
///
/// `delay(n) = min(maxDelay, initialDelay × multiplierⁿ) + jitter × u`, with `n` the number of
/// consecutive failed attempts before this one and `u` uniform in [0, 1) — jitter spreads the
/// reconnects of many clients after a Redis restart. With the defaults:
///
/// | n | 0 | 1 | 2 | 3 | 4 | 5 | 6+ |
/// |---|---|---|---|---|---|---|---|
/// | base delay | 100 ms | 200 ms | 400 ms | 800 ms | 1.6 s | 3.2 s | 5 s |
///
/// plus 0–100 ms of jitter. Attempts never stop: a subscriber gives up only when closed.
public struct RedisReconnectPolicy: Sendable, Equatable {
    /// Delay before the first retry.
    public var initialDelay: Duration
    /// Cap on the exponential part.
    public var maxDelay: Duration
    /// Growth per failed attempt (≥ 1).
    public var multiplier: Double
    /// Upper bound of the random delay added to each wait.
    public var jitter: Duration

    public init(
        initialDelay: Duration = .milliseconds(100),
        maxDelay: Duration = .seconds(5),
        multiplier: Double = 2,
        jitter: Duration = .milliseconds(100)
    ) {
        precondition(initialDelay >= .zero && maxDelay >= initialDelay && multiplier >= 1 && jitter >= .zero)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The wait after `failures` consecutive failures; `unitRandom` in [0, 1) scales the jitter.
    public func delay(afterFailures failures: Int, unitRandom: Double) -> Duration {
        let exponent = Double(max(0, min(failures, 64)))
        let base = min(maxDelay, initialDelay * Swift.min(pow2(multiplier, exponent), 1e12))
        return base + jitter * Swift.max(0, Swift.min(unitRandom, 1))
    }

    /// The wait after `failures` failures with a random jitter.
    public func delay(afterFailures failures: Int) -> Duration {
        delay(afterFailures: failures, unitRandom: Double.random(in: 0..<1))
    }
}

/// `base^exponent` for non-negative integer-valued exponents, without Foundation.
private func pow2(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 && result < 1e12 {
        result *= base
        remaining -= 1
    }
    return result
}

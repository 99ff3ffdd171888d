/// The pool-wide quota on WebSocket connection attempts (per IP, so shared by every
/// connection of both markets when they run in one process).
///
/// Binance states no limit for futures (spot: 300 per 5 minutes); NautilusTrader paces
/// futures connects at about one per second, and so does this, by default without bursts:
/// 20 connections dropped together reconnect over 20 s rather than in one storm, which also
/// never exceeds spot's 300 per 5 minutes. Consulted before every connect, first or retry.
public struct ConnectionAttemptQuota<Instant: InstantProtocol>: Sendable, Equatable
where Instant.Duration == Duration, Instant: Sendable {
    private var pacing: PacedQuota<Instant>

    /// One attempt per `interval` (default 1 s), at most `burst` back to back (default 1).
    public init(interval: Duration = .seconds(1), burst: Int = 1) {
        pacing = PacedQuota(interval: interval, burst: burst)
    }

    /// One attempt per `configuration.connectionAttemptInterval`, without bursts.
    public init(configuration: StreamPoolConfiguration) {
        self.init(interval: configuration.connectionAttemptInterval)
    }

    /// Spacing between attempts.
    public var interval: Duration { pacing.interval }

    /// Takes the permit for one connection attempt at `now`, or says when to retry.
    public mutating func acquire(at now: Instant) -> QuotaDecision<Instant> {
        pacing.acquire(at: now)
    }

    /// What ``acquire(at:)`` would answer, without taking anything.
    public func check(at now: Instant) -> QuotaDecision<Instant> {
        pacing.check(at: now)
    }
}

/// How ``StreamLivenessTracker`` decides that a subscribed stream has gone silent.
///
/// A stream is stale after `max(minimumStaleAfter, staleMultiple × cadence)` without data,
/// where the cadence is Binance's documented period (depth, mark price, klines…) or, for
/// event-driven streams, an EWMA of observed inter-arrival times never below
/// ``learnedCadenceFloor``. A stream still stale ``resubscribeAfter`` later is resubscribed.
public struct StreamLivenessConfiguration: Sendable, Equatable {
    /// Cadences without data before a stream is stale.
    public var staleMultiple = 10
    /// Shortest silence ever called stale (absorbs network jitter on 100 ms streams).
    public var minimumStaleAfter: Duration = .seconds(3)
    /// Longest silence a learned cadence may wait for, so a slow-learned stream is still
    /// checked; documented cadences are not capped.
    public var maximumStaleAfter: Duration = .seconds(600)
    /// Lower bound of a learned cadence.
    public var learnedCadenceFloor: Duration = .milliseconds(100)
    /// Weight of the newest inter-arrival time in the EWMA, in (0, 1].
    public var learningWeight = 0.1
    /// Inter-arrival samples needed before a stream without a documented cadence is judged.
    public var learningSamples = 5
    /// Silence before a stream's first message is judged, counted from the subscription.
    public var firstMessageGrace: Duration = .seconds(10)
    /// How long a stream stays stale before it is force-resubscribed.
    public var resubscribeAfter: Duration = .seconds(30)
    /// Whether streams without a documented cadence are force-resubscribed too (off: a
    /// quiet market is not a fault, so they only report stale / resumed).
    public var resubscribeLearnedStreams = false

    /// The defaults above.
    public init() {}
}

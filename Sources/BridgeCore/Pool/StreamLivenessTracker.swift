/// Detects subscribed streams that go silent, from data alone: Binance acknowledges streams
/// that will never deliver (wrong route, unknown symbol), so an ack proves nothing.
///
/// Each stream has an expected cadence: Binance's documented period when there is one
/// (``BinanceStreamType/documentedCadence``: `markPrice@1s` 1 s, `markPrice` 3 s,
/// `depth@100ms` 100 ms, `depth` 250 ms, `depth@500ms` 500 ms, `!markPrice@arr@1s` 1 s,
/// klines 250 ms…), else one learned from the stream itself: an exponentially weighted
/// moving average of inter-arrival times, never below `learnedCadenceFloor`. Thresholds
/// (``StreamLivenessConfiguration``):
///
/// | stream | stale after this long without data |
/// |---|---|
/// | documented cadence `c` | `max(minimumStaleAfter, staleMultiple × c)` |
/// | learned cadence `c` (after `learningSamples` gaps) | `min(maximumStaleAfter, max(minimumStaleAfter, staleMultiple × c))` |
/// | still learning | `maximumStaleAfter` |
/// | no message yet, documented | `max(firstMessageGrace, documented threshold)` from the subscription |
/// | no message yet, undocumented | `maximumStaleAfter` from the subscription |
///
/// Events: ``Event/stale(_:silentSince:)`` once when the threshold passes,
/// ``Event/resumed(_:silentFor:)`` on the next message, and
/// ``Event/resubscribe(_:)`` every `resubscribeAfter` while stale (for learned streams
/// only if `resubscribeLearnedStreams`). Pure: times are passed in; call
/// ``poll(at:)`` at ``nextDeadline``.
public struct StreamLivenessTracker<Key: Hashable & Sendable, Instant: InstantProtocol>: Sendable
where Instant.Duration == Duration, Instant: Sendable {
    /// A liveness change to report.
    public enum Event: Sendable, Equatable {
        /// No data since `silentSince` (the last message, or the subscription).
        case stale(Key, silentSince: Instant)
        /// Data again after `silentFor` of silence.
        case resumed(Key, silentFor: Duration)
        /// Still stale after `resubscribeAfter`: UNSUBSCRIBE and SUBSCRIBE it again.
        case resubscribe(Key)
    }

    private struct Entry: Sendable {
        var documentedCadence: Duration?
        var learnedSeconds: Double?
        var samples = 0
        var trackedAt: Instant
        var lastMessageAt: Instant?
        var staleSince: Instant?
        var nextResubscribeAt: Instant?
    }

    /// The thresholds.
    public let configuration: StreamLivenessConfiguration
    private var entries: [Key: Entry] = [:]

    /// A tracker with `configuration`.
    public init(configuration: StreamLivenessConfiguration = StreamLivenessConfiguration()) {
        self.configuration = configuration
    }

    /// Streams tracked.
    public var count: Int { entries.count }

    /// Starts watching `stream` at `now` (its subscription); `documentedCadence` nil means
    /// the cadence is learned. Tracking a stream again restarts its clock, keeping what was learned.
    public mutating func track(_ stream: Key, documentedCadence: Duration?, at now: Instant) {
        var entry = entries[stream] ?? Entry(documentedCadence: documentedCadence, trackedAt: now)
        entry.documentedCadence = documentedCadence
        entry.trackedAt = now
        entry.lastMessageAt = nil
        entry.staleSince = nil
        entry.nextResubscribeAt = nil
        entries[stream] = entry
    }

    /// Stops watching `stream` (unsubscribed).
    public mutating func untrack(_ stream: Key) {
        entries[stream] = nil
    }

    /// Whether `stream` is currently stale.
    public func isStale(_ stream: Key) -> Bool { entries[stream]?.staleSince != nil }

    /// The cadence `stream` is judged by: documented, or learned (nil while learning).
    public func expectedCadence(of stream: Key) -> Duration? {
        guard let entry = entries[stream] else { return nil }
        return entry.documentedCadence ?? learnedCadence(entry)
    }

    /// A message of `stream` arrived at `now`; returns `resumed` if it was stale.
    // Per message, from the pool: specialized for its key and clock (see
    // `ConnectionLifecycleStateMachine.frameReceived`).
    @_specialize(exported: true, where Key == BinanceStreamName, Instant == ContinuousClock.Instant)
    public mutating func messageReceived(_ stream: Key, at now: Instant) -> Event? {
        guard var entry = entries[stream] else { return nil }
        defer { entries[stream] = entry }
        if let last = entry.lastMessageAt {
            let gap = Self.seconds(last.duration(to: now))
            let weight = configuration.learningWeight
            entry.learnedSeconds = entry.learnedSeconds.map { weight * gap + (1 - weight) * $0 } ?? gap
            entry.samples += 1
        }
        entry.lastMessageAt = now
        guard let since = entry.staleSince else { return nil }
        entry.staleSince = nil
        entry.nextResubscribeAt = nil
        return .resumed(stream, silentFor: since.duration(to: now))
    }

    /// The events due at `now`.
    public mutating func poll(at now: Instant) -> [Event] {
        var events: [Event] = []
        for (stream, var entry) in entries {
            var changed = false
            if entry.staleSince == nil {
                let since = entry.lastMessageAt ?? entry.trackedAt
                if now >= since.advanced(by: threshold(entry)) {
                    entry.staleSince = since
                    entry.nextResubscribeAt = resubscribes(entry) ? now.advanced(by: configuration.resubscribeAfter) : nil
                    events.append(.stale(stream, silentSince: since))
                    changed = true
                }
            } else if let due = entry.nextResubscribeAt, now >= due {
                entry.nextResubscribeAt = now.advanced(by: configuration.resubscribeAfter)
                events.append(.resubscribe(stream))
                changed = true
            }
            if changed { entries[stream] = entry }
        }
        return events.sorted { Self.order($0) < Self.order($1) }
    }

    /// The earliest instant at which ``poll(at:)`` has an event to report.
    public var nextDeadline: Instant? {
        entries.values.compactMap { entry -> Instant? in
            if entry.staleSince == nil {
                return (entry.lastMessageAt ?? entry.trackedAt).advanced(by: threshold(entry))
            }
            return entry.nextResubscribeAt
        }.min()
    }

    /// The silence after which `stream` is stale, as things stand.
    public func staleThreshold(of stream: Key) -> Duration? {
        entries[stream].map(threshold)
    }

    // MARK: Rules

    private func threshold(_ entry: Entry) -> Duration {
        let c = configuration
        if let documented = entry.documentedCadence {
            let regular = max(c.minimumStaleAfter, documented * c.staleMultiple)
            return entry.lastMessageAt == nil ? max(c.firstMessageGrace, regular) : regular
        }
        guard entry.lastMessageAt != nil, let learned = learnedCadence(entry) else { return c.maximumStaleAfter }
        return min(c.maximumStaleAfter, max(c.minimumStaleAfter, learned * c.staleMultiple))
    }

    private func learnedCadence(_ entry: Entry) -> Duration? {
        guard entry.samples >= configuration.learningSamples, let seconds = entry.learnedSeconds else { return nil }
        return max(configuration.learnedCadenceFloor, .seconds(seconds))
    }

    private func resubscribes(_ entry: Entry) -> Bool {
        entry.documentedCadence != nil || configuration.resubscribeLearnedStreams
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// A deterministic order for one poll's events: stale before resubscribe, then by
    /// description (dictionary order is not stable).
    private static func order(_ event: Event) -> String {
        switch event {
        case .stale(let key, _): "0\(key)"
        case .resumed(let key, _): "1\(key)"
        case .resubscribe(let key): "2\(key)"
        }
    }
}

extension StreamLivenessTracker where Key == BinanceStreamName {
    /// Starts watching `stream` with its documented cadence, if Binance documents one.
    public mutating func track(_ stream: BinanceStreamName, at now: Instant) {
        track(stream, documentedCadence: stream.type.documentedCadence, at: now)
    }
}

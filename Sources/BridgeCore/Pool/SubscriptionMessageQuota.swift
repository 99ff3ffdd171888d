/// The per-connection quota on messages the bridge sends to Binance (SUBSCRIBE, UNSUBSCRIBE,
/// and client pings), keyed by connection.
///
/// Binance allows 10 incoming messages per second per connection and closes the socket
/// with 1008 beyond that (repeated offences risk an IP ban). Each key is paced evenly at
/// `messagesPerSecond` (default 5, like NautilusTrader) without bursts, so no one-second
/// window ever holds more than 5 messages of a connection. Keys are independent: a busy
/// connection never delays another.
public struct SubscriptionMessageQuota<Key: Hashable & Sendable, Instant: InstantProtocol>: Sendable
where Instant.Duration == Duration, Instant: Sendable {
    /// Evenly spaced messages allowed per second and connection.
    public let messagesPerSecond: Int
    private var quotas: [Key: PacedQuota<Instant>] = [:]

    /// A quota of `messagesPerSecond` (default 5) per key.
    public init(messagesPerSecond: Int = 5) {
        precondition(messagesPerSecond > 0)
        self.messagesPerSecond = messagesPerSecond
    }

    /// The quota of `configuration.requestsPerSecond` per connection.
    public init(configuration: StreamPoolConfiguration) {
        self.init(messagesPerSecond: configuration.requestsPerSecond)
    }

    /// Takes the permit to send one message on `key` at `now`, or says when to retry.
    public mutating func acquire(_ key: Key, at now: Instant) -> QuotaDecision<Instant> {
        quotas[key, default: PacedQuota(permits: messagesPerSecond, per: .seconds(1))].acquire(at: now)
    }

    /// What ``acquire(_:at:)`` would answer, without taking anything.
    public func check(_ key: Key, at now: Instant) -> QuotaDecision<Instant> {
        quotas[key]?.check(at: now) ?? .sendNow
    }

    /// Forgets `key` (its connection is gone); a new socket under the same key starts fresh.
    public mutating func remove(_ key: Key) {
        quotas[key] = nil
    }

    /// Number of keys tracked.
    public var keyCount: Int { quotas.count }
}

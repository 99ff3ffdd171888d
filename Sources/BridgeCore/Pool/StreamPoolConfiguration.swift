/// Every parameter of one market's stream pool, with Binance's limits and the seed's values
/// as defaults (protocol §2). Times are `Duration`s; nothing here reads a clock.
public struct StreamPoolConfiguration: Sendable, Equatable {
    // MARK: Capacity

    /// Connections the pool may hold open at once (seed: 20). Rotation replacements are the
    /// exception: each rotating connection may have one replacement above this cap for the
    /// length of the overlap.
    public var maxConnections = 20
    /// Streams per connection (seed: 200; Binance's current pages say 1,024, and the
    /// 1,025th loses the whole socket).
    public var maxStreamsPerConnection = 200
    /// Stream names in one SUBSCRIBE/UNSUBSCRIBE request (200 in one request is observed to
    /// work; a full connection is then one request).
    public var maxStreamsPerRequest = 200

    /// Streams the pool can carry in all: `maxConnections × maxStreamsPerConnection` (4,000).
    public var capacity: Int { maxConnections * maxStreamsPerConnection }

    // MARK: Requests

    /// Messages (requests and client pings) sent per second on one connection, evenly paced
    /// without bursts; Binance closes the socket above 10 per second.
    public var requestsPerSecond = 5
    /// How long a SUBSCRIBE/UNSUBSCRIBE may wait for its `{"result":null,"id":N}` before it
    /// is sent again with a new id.
    public var ackTimeout: Duration = .seconds(5)
    /// Resends after the first timeout; then the request's streams are failed.
    public var ackRetries = 2
    /// How long a connection left with no stream stays open before it is closed, so that an
    /// unsubscribe followed by a subscribe does not churn sockets.
    public var emptyConnectionLinger: Duration = .seconds(30)

    // MARK: Connections

    /// Upper bound on establishing a connection (TCP + TLS + WebSocket upgrade).
    public var connectTimeout: Duration = .seconds(5)
    /// Wait between reconnection attempts.
    public var backoff = ReconnectBackoff()
    /// Spacing of connection attempts across the pool: 5 per second. Binance states no
    /// futures limit; its only published one is 300 per 5 minutes per IP (spot), far above a
    /// full pool of 20 opened in 4 s. The seed's ~1 per second would take 20 s to open a
    /// full pool (the goal is 4,000 streams confirmed within 5 s); reconnects still back off
    /// per connection (``backoff``).
    public var connectionAttemptInterval: Duration = .milliseconds(200)
    /// A connection open this long without dropping counts as healthy: its next drop starts
    /// the backoff from the first row again.
    public var healthyConnectionDuration: Duration = .seconds(30)
    /// Binance closes every connection after this long (24 h).
    public var connectionLifetime: Duration = .seconds(24 * 3600)
    /// How long before ``connectionLifetime`` a replacement connection is opened (Binance's
    /// SDK rotates at 23 h: a margin of 1 h).
    public var rotationMargin: Duration = .seconds(3600)
    /// Longest overlap of a rotation: if the replacement is not ready by then, it is
    /// abandoned and tried again at the next check.
    public var rotationOverlapTimeout: Duration = .seconds(60)
    /// Frames of one stream the overlap deduplicator buffers from the replacement while
    /// waiting for the two connections' sequences to align.
    public var rotationBufferPerStream = 256

    // MARK: Heartbeats and liveness

    /// Client ping period (Binance pings every 3 minutes and answers client pings).
    public var pingInterval: Duration = .seconds(180)
    /// No frame at all (data, reply, ping or pong) for this long → close and reconnect
    /// (enforced by the connection, which sees every frame). Longer than ``pingInterval``
    /// so that a connection of quiet streams survives on Binance's pings and our pongs.
    public var idleTimeout: Duration = .seconds(210)
    /// Per-stream silence detection.
    public var liveness = StreamLivenessConfiguration()

    // MARK: Output

    /// Messages buffered between the connections and the consumer of the pool's merged
    /// output before the overflow policy applies.
    public var outputBufferCapacity = 16_384

    // MARK: Routes

    /// The USD-M route of every stream family (ignored for COIN-M).
    public var routeTable = StreamRouteTable.binanceDefaults

    /// Binance's limits and the seed's values.
    public init() {}

    // MARK: Validation

    /// Every inconsistency in these settings, one sentence each; empty when usable. Checked
    /// by whoever builds a pool from user input (the values are plain fields so that tests
    /// can set anything).
    public var problems: [String] {
        var problems: [String] = []
        if maxConnections < 1 { problems.append("maxConnections must be at least 1") }
        if maxStreamsPerConnection < 1 { problems.append("maxStreamsPerConnection must be at least 1") }
        if maxStreamsPerConnection > 1024 { problems.append("maxStreamsPerConnection above 1024 loses the whole socket on Binance") }
        if maxStreamsPerRequest < 1 { problems.append("maxStreamsPerRequest must be at least 1") }
        if requestsPerSecond < 1 || requestsPerSecond >= 10 {
            problems.append("requestsPerSecond must be 1-9: Binance closes a connection above 10 messages per second")
        }
        if ackTimeout <= .zero { problems.append("ackTimeout must be positive") }
        if ackRetries < 0 { problems.append("ackRetries must not be negative") }
        if connectTimeout <= .zero { problems.append("connectTimeout must be positive") }
        if rotationMargin <= .zero || rotationMargin >= connectionLifetime {
            problems.append("rotationMargin must be positive and shorter than connectionLifetime")
        }
        if pingInterval <= .zero { problems.append("pingInterval must be positive") }
        if idleTimeout <= pingInterval { problems.append("idleTimeout must exceed pingInterval, or quiet connections are dropped") }
        if rotationBufferPerStream < 1 { problems.append("rotationBufferPerStream must be at least 1") }
        if outputBufferCapacity < 1 { problems.append("outputBufferCapacity must be at least 1") }
        return problems
    }
}

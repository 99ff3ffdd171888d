/// Everything that shapes a simulator run. Defaults mirror Binance (protocol file §2); tests
/// shrink the times to seconds.
public struct SimulatorConfiguration: Sendable {
    /// Address to listen on (loopback by default).
    public var host = "127.0.0.1"
    /// USD-M WebSocket + `/fapi` REST port; 0 picks a free one.
    public var usdmPort = 0
    /// COIN-M WebSocket + `/dapi` REST port; 0 picks a free one.
    public var coinmPort = 0
    /// Seed of every random decision: the same seed gives the same market.
    public var seed: UInt64 = 1
    /// The contracts traded.
    public var instruments: [SimInstrument] = SimInstrument.defaults
    /// Exchange actions (book updates and trades; one in five is a trade) per second per symbol.
    public var rate: Double = 50
    /// How often the market clock advances.
    public var tickInterval: Duration = .milliseconds(10)
    /// A connection is closed by the server after this long (Binance: 24 h).
    public var lifetime: Duration = .seconds(24 * 3600)
    /// Server ping period (Binance: 3 minutes).
    public var pingInterval: Duration = .seconds(180)
    /// Close a connection that has not answered a ping within this (Binance: 10 minutes).
    public var pongTimeout: Duration = .seconds(600)
    /// Streams per connection; one more gets error 4 and a 1008 close (Binance: 1,024 now,
    /// 200 in older docs and in mature clients — the default here).
    public var maxStreamsPerConnection = 200
    /// Incoming messages (requests, pings, pongs) per second per connection; one more closes
    /// the connection with 1008.
    public var maxMessagesPerSecond = 10
    /// USD-M: a stream subscribed on the wrong route is acknowledged and stays silent.
    public var silentWrongRoute = false
    /// REST request weight per minute (shared by both markets since 2026-06-30).
    public var restWeightPerMinute = 2_400
    /// WebSocket handshakes accepted per remote address within ``connectionAttemptWindow``;
    /// one more is answered `429`. Binance states 300 per 5 minutes for spot and nothing for
    /// futures: an assumption, as the protocol file notes.
    public var maxConnectionAttempts = 300
    /// The sliding window of ``maxConnectionAttempts``.
    public var connectionAttemptWindow: Duration = .seconds(300)
    /// Admin HTTP API port (fault injection, status); nil: no admin listener, 0: a free port.
    public var adminPort: Int?
    /// Write every message sent to this JSONL file (see ``SimGroundTruth``).
    public var groundTruthPath: String?
    /// Replay this JSONL capture instead of simulating (see ``SimReplay``).
    public var replayPath: String?
    /// Replay speed: 2 plays twice as fast as recorded.
    public var replaySpeed: Double = 1
    /// PEM certificate chain and private key: serve `wss://` and `https://` instead of plain.
    public var tls: SimTLS?

    public init() {}
}

/// A certificate and key for serving TLS (`scripts/gen-test-cert.sh` makes a self-signed pair).
public struct SimTLS: Sendable, Equatable {
    /// PEM file with the certificate chain.
    public var certificatePath: String
    /// PEM file with the private key.
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

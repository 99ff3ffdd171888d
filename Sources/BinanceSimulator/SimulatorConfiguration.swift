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
    /// Exchange actions (book updates and trades) per second per symbol. Ignored when
    /// ``aggregateRate`` is set.
    public var rate: Double = 50
    /// Exchange actions per second across all symbols of both markets, split evenly between
    /// the symbols; overrides ``rate`` when set (load tests think in total messages, not
    /// per-symbol rates).
    public var aggregateRate: Double?
    /// Share of exchange actions that are trades (the rest are book updates), 0…1, resolved to
    /// 10⁻⁶. The default 0.2 is the one-in-five the simulator always used, and gives the same
    /// market for the same seed as before the ratio was configurable. A trade needs a resting
    /// order to hit: when that side of the book is empty the action is a book update instead,
    /// so near 1 the takers soon empty the book and the real share falls.
    public var tradeRatio: Double = 0.2
    /// Liquidation orders per second per symbol on `forceOrder` / `!forceOrder@arr`, 0…1:
    /// Binance pushes at most one liquidation per symbol per second, so more cannot be seen.
    public var liquidationsPerSecond: Double = 0.2
    /// Period of the simulated `!contractInfo` pushes (one message per symbol each period).
    /// Binance pushes on changes only; a steady period lets consumers see the stream at all.
    public var contractInfoInterval: Duration = .seconds(60)
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

    /// The actions per second each symbol runs at: ``aggregateRate`` split evenly over every
    /// configured symbol of both markets, else ``rate``.
    public var ratePerSymbol: Double {
        guard let aggregateRate else { return rate }
        return instruments.isEmpty ? 0 : aggregateRate / Double(instruments.count)
    }
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

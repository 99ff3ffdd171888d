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
    /// Trades per second per symbol (`aggTrade`, `trade`; one trade is one message on each).
    /// With ``bookUpdatesPerSecond`` it replaces the split that ``rate`` and ``tradeRatio``
    /// give: whichever of the two is set wins for its part, the other keeps its share.
    public var tradesPerSecond: Double?
    /// Book-level changes per second per symbol, apart from the ones trades make (`depth…`
    /// diffs carry them; `bookTicker` pushes when one moves the top).
    public var bookUpdatesPerSecond: Double?
    /// Period of the `ticker`, `miniTicker`, `!ticker@arr` and `!miniTicker@arr` pushes
    /// (Binance fixes none in the stream name).
    public var tickerInterval: Duration = .seconds(1)
    /// Period of the kline pushes of every kind (Binance: 250 ms).
    public var klineInterval: Duration = .milliseconds(250)
    /// Book checksums remembered per symbol, one per change (8 bytes each), for
    /// ``BinanceSimulator/bookChecksum(market:symbol:at:)``: how far behind the exchange a
    /// consumer's book may be and still be compared.
    public var bookChecksumHistory = 8_192
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

    /// The exchange actions each symbol runs: per second, and the share of them that are
    /// trades. ``ratePerSymbol`` and ``tradeRatio``, with each part replaced by
    /// ``tradesPerSecond`` / ``bookUpdatesPerSecond`` when set.
    public var actionsPerSymbol: (rate: Double, tradeRatio: Double) {
        guard tradesPerSecond != nil || bookUpdatesPerSecond != nil else { return (ratePerSymbol, tradeRatio) }
        let trades = tradesPerSecond ?? ratePerSymbol * tradeRatio
        let books = bookUpdatesPerSecond ?? ratePerSymbol * (1 - tradeRatio)
        let total = trades + books
        return (total, total > 0 ? trades / total : 0)
    }

    /// Sets the rate of one stream type, in messages per second per symbol (`aggTrade=200`,
    /// `depth=800`, `ticker=2`). Types whose rate Binance fixes in the stream name
    /// (`markPrice@1s`, `depth@100ms`, `depth5`…) or that follow from others
    /// (`bookTicker`) are refused with the reason.
    public mutating func setStreamRate(_ type: String, perSecond value: Double) throws(SimConfigurationError) {
        guard value.isFinite, value >= 0 else { throw SimConfigurationError("stream rate \(type)=\(value): expected a number of messages per second, 0 or more") }
        func interval() throws(SimConfigurationError) -> Duration {
            // The market clock ticks every 10 ms: a shorter period cannot be kept.
            // At least one a day (a smaller rate would overflow the period).
            guard value >= 1.0 / 86_400, value <= 100 else {
                throw SimConfigurationError("stream rate \(type)=\(value): expected more than 0 (at least one a day) and at most 100 pushes per second")
            }
            return .microseconds(Int64((1_000_000 / value).rounded()))
        }
        switch type {
        case "aggTrade", "trade": tradesPerSecond = value
        case "depth": bookUpdatesPerSecond = value
        case "forceOrder":
            guard value <= 1 else { throw SimConfigurationError("stream rate forceOrder=\(value): Binance pushes at most one liquidation per symbol per second") }
            liquidationsPerSecond = value
        case "ticker", "miniTicker": tickerInterval = try interval()
        case "kline", "continuousKline", "markPriceKline", "indexPriceKline": klineInterval = try interval()
        case "contractInfo": contractInfoInterval = try interval()
        case "bookTicker":
            throw SimConfigurationError("stream rate bookTicker: it pushes when the top of the book changes; set aggTrade= and depth= (the changes that move it)")
        case "markPrice", "indexPrice", "depth5", "depth10", "depth20", "compositeIndex", "assetIndex":
            throw SimConfigurationError("stream rate \(type): Binance fixes its rate in the stream name (@1s, @100ms, @500ms, or the default)")
        default:
            throw SimConfigurationError("stream rate \(type): unknown stream type; expected one of \(Self.streamRateTypes.joined(separator: ", "))")
        }
    }

    /// The stream types ``setStreamRate(_:perSecond:)`` accepts.
    public static let streamRateTypes = ["aggTrade", "trade", "depth", "forceOrder", "ticker", "miniTicker", "kline", "continuousKline",
                                         "markPriceKline", "indexPriceKline", "contractInfo"]

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

/// A setting the simulator cannot run with, said in the user's terms.
public struct SimConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Every setting of the bridge, with production defaults (Redis contract, section 6).
///
/// A plain value so that services take exactly what they need and tests build one in a line.
/// `BridgeConfigurationLoader` (module `Bridge`) fills it from flags, `BRIDGE_*` environment
/// variables and a YAML file; every key is listed once, with its documentation, in
/// ``settings``, and ``redactedSettingsDescription`` renders it safely for logs.
public struct BridgeConfiguration: Sendable, Equatable {
    // MARK: Nested settings

    /// Redis connection and stream settings (`redis.*`).
    public struct Redis: Sendable, Equatable {
        /// `redis://[user:password@]host:port/db` or `unix:///path?db=N` (`redis.url`).
        public var url = "redis://127.0.0.1:6379/0"
        /// Prefix of every key, channel and stream the bridge writes (`binance:…`).
        public var prefix = "binance"
        /// `MAXLEN ~` bound of each data stream, so Redis memory stays bounded.
        public var maxlen = 100_000
        /// Upper bound on connecting to Redis (connect + handshake), `redis.connect_timeout_ms`.
        public var connectTimeout: Duration = .seconds(5)
        /// Upper bound on a command batch making no progress, `redis.command_timeout_ms`.
        public var commandTimeout: Duration = .seconds(5)

        /// The defaults: Redis on localhost, database 0.
        public init() {}
    }

    /// Where one Binance market is reached (`usdm.*`, `coinm.*`).
    public struct MarketEndpoints: Sendable, Equatable {
        /// WebSocket base URL (`wss://…`, or `ws://…` for the simulator); routes are appended.
        public var webSocketURL: String
        /// REST base URL (`https://…`, or `http://…` for the simulator).
        public var restURL: String

        /// Endpoints at explicit URLs (the simulator, a proxy).
        public init(webSocketURL: String, restURL: String) {
            self.webSocketURL = webSocketURL
            self.restURL = restURL
        }

        /// Binance's own endpoints for `market` in `environment`: the defaults of the URL keys.
        public static func standard(_ market: BinanceMarket, _ environment: BinanceEnvironment) -> MarketEndpoints {
            MarketEndpoints(webSocketURL: market.defaultWebSocketURL(environment), restURL: market.defaultRESTURL(environment))
        }
    }

    /// How entries are written to Redis (`publisher.*`).
    public struct Publisher: Sendable, Equatable {
        /// Bound of the buffer of entries waiting for Redis, bytes; past it the oldest are
        /// dropped behind an `overflow` gap marker.
        public var bufferBytes = 64 << 20
        /// Most `XADD`s per pipelined batch.
        public var batchSize = 512
        /// Longest an entry waits for its batch to fill.
        public var batchWindow: Duration = .zero

        /// The defaults: 64 MiB, 512 entries, 200 µs.
        public init() {}
    }

    /// The metrics and health endpoint (`http.*`).
    public struct HTTP: Sendable, Equatable {
        /// TCP port of `/metrics`, `/healthz` and `/readyz` (0: any free port).
        public var port = 9464
        /// Address they listen on: every interface by default, so Prometheus and container
        /// health checks reach it; `127.0.0.1` keeps it local.
        public var host = "0.0.0.0"

        /// The defaults: 0.0.0.0:9464 (Prometheus' conventional exporter range).
        public init() {}
    }

    /// Instrument cache behaviour (`instruments.*`).
    public struct Instruments: Sendable, Equatable {
        /// Reject subscriptions to symbols missing from the instrument cache.
        public var strict = false
        /// Fetch exchangeInfo at start when the instrument hash is empty.
        public var syncOnStart = true

        /// The defaults: lenient, synchronised at start.
        public init() {}
    }

    /// Local order books (`books.*`).
    public struct Books: Sendable, Equatable {
        /// Keep books for diff-depth streams (snapshot + diffs, resync on gaps).
        public var enabled = false
        /// Symbols (upper case) booked even when ``enabled`` is off.
        public var symbols: Set<String> = []
        /// Symbols (upper case) never booked.
        public var exclude: Set<String> = []
        /// `limit` of REST depth snapshots: 5, 10, 20, 50, 100, 500 or 1000 (Binance's
        /// largest; a book deeper than it cannot be seen whole).
        public var depthLimit = 1_000
        /// REST weight per clock minute the snapshots may use, of Binance's 2,400 per IP
        /// (shared by both markets and by anything else on the IP).
        public var restWeightPerMinute = 1_200
        /// Diff events held per stream while its snapshot is awaited; past it the oldest are
        /// dropped behind an `overflow` gap marker.
        public var bufferEvents = 2_000
        /// A `depth_snapshot` (source `book`) every this many updates applied; 0: never.
        public var snapshotEveryUpdates = 0
        /// A `depth_snapshot` (source `book`) at least this often; 0: never.
        public var snapshotInterval: Duration = .zero
        /// Longest wait for one REST snapshot before it is retried.
        public var snapshotTimeout: Duration = .seconds(10)

        /// The default: no local books.
        public init() {}

        /// Whether the diff-depth streams of `symbol` (upper case) keep a book.
        public func isEnabled(symbol: String) -> Bool {
            !exclude.contains(symbol) && (enabled || symbols.contains(symbol))
        }
    }

    /// Log output (`log.*`).
    public struct Log: Sendable, Equatable {
        /// Minimum level written.
        public var level: LogLevel = .info

        /// The default level, `info`.
        public init() {}
    }

    /// swift-log's levels by name, so the core stays free of the swift-log dependency.
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    // MARK: Settings

    /// Redis connection and stream settings.
    public var redis = Redis()
    /// `MAXLEN ~` per stream kind (`maxlen.<kind>`), overriding `redis.maxlen`.
    public var maxlenByKind: [BinanceStreamKind: Int] = [:]
    /// How entries are written to Redis.
    public var publisher = Publisher()
    /// Binance network; selects the URL defaults of ``usdm`` and ``coinm``.
    public var environment: BinanceEnvironment = .mainnet
    /// USD-M futures endpoints.
    public var usdm = MarketEndpoints.standard(.usdm, .mainnet)
    /// COIN-M futures endpoints.
    public var coinm = MarketEndpoints.standard(.coinm, .mainnet)
    /// Binance API key, sent as a header when set; market data needs none. Never printed.
    public var apiKey: APIKey?
    /// The metrics and health endpoint.
    public var http = HTTP()
    /// Instrument cache behaviour.
    public var instruments = Instruments()
    /// Local order books.
    public var books = Books()
    /// Each market's stream pool (`pool.*`): Binance's limits and the seed's timings by
    /// default; the rest of ``StreamPoolConfiguration`` keeps its defaults.
    public var pool = StreamPoolConfiguration()
    /// Log output.
    public var log = Log()

    /// All defaults: Binance mainnet, Redis on localhost.
    public init() {}

    /// The endpoints configured for `market`, for code that handles both markets alike.
    public func endpoints(_ market: BinanceMarket) -> MarketEndpoints {
        switch market {
        case .usdm: usdm
        case .coinm: coinm
        }
    }
}

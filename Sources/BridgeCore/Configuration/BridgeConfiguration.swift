/// Every setting of the bridge, with production defaults (contract section 6).
///
/// Built by `BridgeConfigurationLoader` (module `Bridge`) from the YAML file, `BRIDGE_*`
/// environment variables and command-line flags; each key is listed once, with its
/// documentation, in ``settings``.
public struct BridgeConfiguration: Sendable, Equatable {
    /// Redis connection and stream settings.
    public struct Redis: Sendable, Equatable {
        /// `redis://[user:password@]host:port/db` or `unix:///path?db=N`.
        public var url = "redis://127.0.0.1:6379/0"
        /// Prefix of every key, channel and stream the bridge writes (`binance:…`).
        public var prefix = "binance"
        /// `MAXLEN ~` bound of each data stream.
        public var maxlen = 100_000
        /// Upper bound on connecting to Redis (connect + handshake).
        public var connectTimeout: Duration = .seconds(5)
        /// Upper bound on a command batch making no progress.
        public var commandTimeout: Duration = .seconds(5)

        public init() {}
    }

    /// Where one Binance market is reached.
    public struct MarketEndpoints: Sendable, Equatable {
        /// WebSocket base URL (`wss://…`, or `ws://…` for the simulator); routes are appended.
        public var webSocketURL: String
        /// REST base URL (`https://…`, or `http://…` for the simulator).
        public var restURL: String

        public init(webSocketURL: String, restURL: String) {
            self.webSocketURL = webSocketURL
            self.restURL = restURL
        }

        /// Binance's own endpoints for `market` in `environment`.
        public static func standard(_ market: BinanceMarket, _ environment: BinanceEnvironment) -> MarketEndpoints {
            MarketEndpoints(webSocketURL: market.defaultWebSocketURL(environment), restURL: market.defaultRESTURL(environment))
        }
    }

    /// Metrics and health endpoint.
    public struct HTTP: Sendable, Equatable {
        /// TCP port of `/metrics`, `/healthz`, `/readyz`.
        public var port = 9464
        public init() {}
    }

    /// Instrument cache behaviour.
    public struct Instruments: Sendable, Equatable {
        /// Reject subscriptions to symbols missing from the instrument cache.
        public var strict = false
        /// Fetch exchangeInfo at start when the instrument hash is empty.
        public var syncOnStart = true
        public init() {}
    }

    /// Local order books.
    public struct Books: Sendable, Equatable {
        /// Keep books for diff-depth streams (snapshot + diffs, resync on gaps).
        public var enabled = false
        public init() {}
    }

    /// Log output.
    public struct Log: Sendable, Equatable {
        /// Minimum level: trace, debug, info, notice, warning, error, critical.
        public var level: LogLevel = .info
        public init() {}
    }

    /// The swift-log levels, by name (BridgeCore does not depend on swift-log).
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public var redis = Redis()
    public var environment: BinanceEnvironment = .mainnet
    public var usdm = MarketEndpoints.standard(.usdm, .mainnet)
    public var coinm = MarketEndpoints.standard(.coinm, .mainnet)
    /// Binance API key, sent as a header when set; never printed.
    public var apiKey: APIKey?
    public var http = HTTP()
    public var instruments = Instruments()
    public var books = Books()
    public var log = Log()

    /// All defaults (Binance mainnet, Redis on localhost).
    public init() {}

    /// The endpoints configured for `market`.
    public func endpoints(_ market: BinanceMarket) -> MarketEndpoints {
        switch market {
        case .usdm: usdm
        case .coinm: coinm
        }
    }
}

/// A secret that never appears in descriptions, logs, dumps or errors.
public struct APIKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key itself; read it only to put it in a request header.
    public let secret: String

    public init(_ secret: String) {
        self.secret = secret
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "APIKey(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

import BridgeCore

/// The WebSocket routes of Binance futures market data (see `binance-futures-protocol.md` §1).
///
/// USD-M splits market data across `/public` (books, tickers of the book) and `/market`
/// (trades, mark price, klines…); a stream on the wrong route is acknowledged and then silent,
/// so the pool never mixes routes on one connection. COIN-M has no route split (`.unrouted`).
public enum BinanceRoute: String, Sendable, CaseIterable {
    case `public`
    case market
    case unrouted

    /// The path segment inserted before `/ws` or `/stream` (empty for unrouted).
    public var pathPrefix: String {
        switch self {
        case .public: "/public"
        case .market: "/market"
        case .unrouted: ""
        }
    }
}

/// Builds the URLs the pool connects to and the REST paths it calls, from the configured base
/// URLs (`usdm.ws_url`, `usdm.rest_url`, …). Bases may be `wss://`/`https://` (Binance) or
/// `ws://`/`http://` (the simulator); a trailing slash is ignored.
public struct BinanceEndpoint: Sendable, Equatable {
    /// The market this endpoint serves.
    public var market: BinanceMarket
    /// The WebSocket base, e.g. `wss://fstream.binance.com`.
    public var webSocketBase: String
    /// The REST base, e.g. `https://fapi.binance.com`.
    public var restBase: String

    public init(market: BinanceMarket, webSocketBase: String, restBase: String) {
        self.market = market
        self.webSocketBase = Self.trimmingTrailingSlash(webSocketBase)
        self.restBase = Self.trimmingTrailingSlash(restBase)
    }

    /// Binance's endpoints for `market` in `environment` (defaults of `usdm.ws_url` & co.).
    public static func standard(_ market: BinanceMarket, _ environment: BinanceEnvironment) -> BinanceEndpoint {
        BinanceEndpoint(market: market, webSocketBase: market.defaultWebSocketURL(environment), restBase: market.defaultRESTURL(environment))
    }

    /// Binance's production endpoints for `market`.
    public static func mainnet(_ market: BinanceMarket) -> BinanceEndpoint { standard(market, .mainnet) }

    /// Binance's testnet endpoints for `market`.
    public static func testnet(_ market: BinanceMarket) -> BinanceEndpoint { standard(market, .testnet) }

    /// The combined-stream URL (`…/stream`, frames wrapped as `{"stream":…,"data":…}`) of a
    /// connection on `route`; streams are added with live `SUBSCRIBE` requests, so the URL
    /// stays short however many streams the connection carries. COIN-M ignores routes.
    public func combinedStreamURL(route: BinanceRoute) -> String {
        webSocketBase + effectiveRoute(route).pathPrefix + "/stream"
    }

    /// The raw-stream URL (`…/ws/<stream>`) for a single stream on `route`.
    public func rawStreamURL(route: BinanceRoute, stream: String) -> String {
        webSocketBase + effectiveRoute(route).pathPrefix + "/ws/" + stream
    }

    /// The absolute URL of a REST endpoint, e.g. `restURL("depth")` →
    /// `https://fapi.binance.com/fapi/v1/depth`.
    public func restURL(_ endpoint: String) -> String {
        restBase + market.restPathPrefix + "/" + endpoint
    }

    private func effectiveRoute(_ route: BinanceRoute) -> BinanceRoute {
        market == .coinm ? .unrouted : route
    }

    private static func trimmingTrailingSlash(_ text: String) -> String {
        var text = Substring(text)
        while text.hasSuffix("/") { text = text.dropLast() }
        return String(text)
    }
}

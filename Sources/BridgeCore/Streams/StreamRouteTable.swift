/// Which USD-M route carries each stream family; COIN-M streams are always
/// ``StreamRoute/unrouted``.
///
/// Configuration rather than code because Binance moves families between routes without
/// notice (`trade` is undocumented and reported on `/public` by some, `/market` by others):
/// the defaults are protocol §1's table, and any family can be re-pointed.
///
/// | route | families (defaults) |
/// |---|---|
/// | `/public` | `bookTicker`, `depth`, `partialDepth`, `rpiDepth`, `trade` |
/// | `/market` | every other family |
public struct StreamRouteTable: Sendable, Equatable {
    /// The USD-M route of every family; families absent from the dictionary use `/market`.
    public private(set) var usdmRoutes: [BinanceStreamKind: StreamRoute]

    /// Protocol §1's defaults with `overrides` applied. An override to `unrouted` is allowed
    /// (testnet, a proxy); mixing is still prevented since routes never share a connection.
    public init(overrides: [BinanceStreamKind: StreamRoute] = [:]) {
        var routes: [BinanceStreamKind: StreamRoute] = [:]
        for kind in BinanceStreamKind.allCases {
            routes[kind] = Self.defaultUSDMRoute(of: kind)
        }
        routes.merge(overrides) { _, override in override }
        usdmRoutes = routes
    }

    /// Binance's documented defaults.
    public static let binanceDefaults = StreamRouteTable()

    /// The USD-M route of `kind` (readable and settable).
    public subscript(kind: BinanceStreamKind) -> StreamRoute {
        get { usdmRoutes[kind] ?? .market }
        set { usdmRoutes[kind] = newValue }
    }

    /// The route a connection carrying `stream` must use.
    public func route(for stream: BinanceStreamName) -> StreamRoute {
        route(for: stream.type.kind, market: stream.market)
    }

    /// The route of family `kind` on `market`.
    public func route(for kind: BinanceStreamKind, market: BinanceMarket) -> StreamRoute {
        switch market {
        case .usdm: self[kind]
        case .coinm: .unrouted
        }
    }

    /// Protocol §1: book tickers, depth diff/partial, rpiDepth and (undocumented) trade on
    /// `/public`; everything else on `/market`.
    public static func defaultUSDMRoute(of kind: BinanceStreamKind) -> StreamRoute {
        switch kind {
        case .bookTicker, .depth, .partialDepth, .rpiDepth, .trade: .public
        default: .market
        }
    }
}

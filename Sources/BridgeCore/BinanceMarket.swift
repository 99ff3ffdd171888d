/// The Binance futures markets the bridge serves. Its raw value is the contract's `{market}`
/// name, used in stream keys (`binance:usdm:btcusdt@aggTrade`) and commands.
public enum BinanceMarket: String, Sendable, CaseIterable, Codable {
    /// USD-M (USDⓈ-margined) futures: `fstream` / `fapi`.
    case usdm
    /// COIN-M (coin-margined) futures: `dstream` / `dapi`.
    case coinm

    /// Parses a market name as users write it, rejecting every other Binance product
    /// (spot, margin, options, portfolio margin) with a clear reason.
    public init(name: String) throws(BinanceMarketError) {
        let lowered = name.lowercased()
        if let market = BinanceMarket(rawValue: lowered) {
            self = market
            return
        }
        switch lowered {
        case "spot", "margin", "options", "eoptions", "option", "portfolio", "papi":
            throw BinanceMarketError(name: name, reason: "only futures markets are supported (usdm, coinm), not \(lowered)")
        default:
            throw BinanceMarketError(name: name, reason: "unknown market; expected usdm or coinm")
        }
    }

    /// Binance's WebSocket base URL for this market in `environment` (routes are appended).
    public func defaultWebSocketURL(_ environment: BinanceEnvironment) -> String {
        switch (self, environment) {
        case (.usdm, .mainnet): "wss://fstream.binance.com"
        case (.usdm, .testnet): "wss://fstream.binancefuture.com"
        case (.coinm, .mainnet): "wss://dstream.binance.com"
        case (.coinm, .testnet): "wss://dstream.binancefuture.com"
        }
    }

    /// Binance's REST base URL for this market in `environment`.
    public func defaultRESTURL(_ environment: BinanceEnvironment) -> String {
        switch (self, environment) {
        case (.usdm, .mainnet): "https://fapi.binance.com"
        case (.usdm, .testnet): "https://demo-fapi.binance.com"
        case (.coinm, .mainnet): "https://dapi.binance.com"
        case (.coinm, .testnet): "https://testnet.binancefuture.com"
        }
    }

    /// The REST API's path prefix for market data (`/fapi/v1`, `/dapi/v1`).
    public var restPathPrefix: String {
        switch self {
        case .usdm: "/fapi/v1"
        case .coinm: "/dapi/v1"
        }
    }
}

/// Binance's production or test network; selects the default endpoints.
public enum BinanceEnvironment: String, Sendable, CaseIterable {
    case mainnet
    case testnet
}

/// A market name that is not one of ``BinanceMarket``.
public struct BinanceMarketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name as given.
    public var name: String
    /// Why it was rejected.
    public var reason: String

    public var description: String { "market \"\(name)\": \(reason)" }
}

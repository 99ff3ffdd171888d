/// The WebSocket route a connection is opened on (protocol §1).
///
/// USD-M splits market data between `/public` and `/market`; a stream on the wrong route is
/// acknowledged and silent, so the pool never puts two routes on one connection. COIN-M has
/// no split: all of its streams are `unrouted`.
public enum StreamRoute: String, Sendable, Hashable, CaseIterable, Codable {
    /// `wss://fstream.binance.com/public/…` (USD-M books and book tickers).
    case `public`
    /// `wss://fstream.binance.com/market/…` (USD-M trades, mark price, klines, tickers…).
    case market
    /// No route segment (`/ws`, `/stream`): COIN-M.
    case unrouted
}

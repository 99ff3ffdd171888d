/// The family of a futures stream, without its parameters (symbol, speed, interval).
///
/// This is the key of ``StreamRouteTable``: Binance routes whole families (every depth
/// stream, every kline) to one USD-M route. Raw values are the spelling used in
/// configuration files.
public enum BinanceStreamKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// `<s>@aggTrade`.
    case aggTrade
    /// `<s>@trade` (undocumented on futures).
    case trade
    /// `<s>@bookTicker`, `!bookTicker`.
    case bookTicker
    /// Diff depth `<s>@depth[@100ms|@500ms]`.
    case depth
    /// Partial depth `<s>@depth<5|10|20>[@100ms|@500ms]`.
    case partialDepth
    /// `<s>@rpiDepth@500ms` (USD-M).
    case rpiDepth
    /// `<s>@markPrice[@1s]`, `!markPrice@arr[@1s]`.
    case markPrice
    /// `<s>@kline_<i>`.
    case kline
    /// `<pair>_<ct>@continuousKline_<i>`.
    case continuousKline
    /// `<s>@miniTicker`, `!miniTicker@arr`.
    case miniTicker
    /// `<s>@ticker`, `!ticker@arr`.
    case ticker
    /// `<s>@forceOrder`, `!forceOrder@arr`.
    case forceOrder
    /// `<s>@compositeIndex` (USD-M).
    case compositeIndex
    /// `!contractInfo`.
    case contractInfo
    /// `<asset>@assetIndex`, `!assetIndex@arr` (USD-M).
    case assetIndex
    /// `<pair>@indexPrice[@1s]` (COIN-M).
    case indexPrice
    /// `<s>@markPriceKline_<i>` (COIN-M).
    case markPriceKline
    /// `<pair>[_<ct>]@indexPriceKline_<i>` (COIN-M).
    case indexPriceKline

    /// Whether Binance offers this family on `market` (protocol §1 and §4).
    public func isAvailable(on market: BinanceMarket) -> Bool {
        switch self {
        case .rpiDepth, .compositeIndex, .assetIndex: market == .usdm
        case .indexPrice, .markPriceKline, .indexPriceKline: market == .coinm
        default: true
        }
    }
}

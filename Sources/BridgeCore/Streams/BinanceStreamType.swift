/// What a futures stream carries, with its parameters, as parsed from its name by
/// ``BinanceStreamName``.
public enum BinanceStreamType: Hashable, Sendable {
    /// `<s>@aggTrade`.
    case aggTrade
    /// `<s>@trade` (undocumented on futures; may vanish).
    case trade
    /// `<s>@bookTicker` or `!bookTicker`.
    case bookTicker
    /// Diff depth `<s>@depth[@100ms|@500ms]`.
    case depth(speed: DepthSpeed)
    /// Partial depth `<s>@depth<levels>[@100ms|@500ms]`, levels 5, 10 or 20.
    case partialDepth(levels: Int, speed: DepthSpeed)
    /// `<s>@rpiDepth@500ms` (USD-M).
    case rpiDepth
    /// `<s>@markPrice[@1s]` or `!markPrice@arr[@1s]`.
    case markPrice(speed: PriceSpeed)
    /// `<s>@kline_<interval>`.
    case kline(interval: KlineInterval)
    /// `<pair>_<contractType>@continuousKline_<interval>`.
    case continuousKline(contractType: ContractType, interval: KlineInterval)
    /// `<s>@miniTicker` or `!miniTicker@arr`.
    case miniTicker
    /// `<s>@ticker` or `!ticker@arr`.
    case ticker
    /// `<s>@forceOrder` or `!forceOrder@arr`.
    case forceOrder
    /// `<s>@compositeIndex` (USD-M).
    case compositeIndex
    /// `!contractInfo`.
    case contractInfo
    /// `<asset>@assetIndex` or `!assetIndex@arr` (USD-M).
    case assetIndex
    /// `<pair>@indexPrice[@1s]` (COIN-M).
    case indexPrice(speed: PriceSpeed)
    /// `<s>@markPriceKline_<interval>` (COIN-M).
    case markPriceKline(interval: KlineInterval)
    /// `<pair>@indexPriceKline_<interval>` or `<pair>_<ct>@indexPriceKline_<interval>` (COIN-M).
    case indexPriceKline(contractType: ContractType?, interval: KlineInterval)

    /// Update speed of depth streams. 250 ms is Binance's default and is spelled by omitting
    /// the suffix: an explicit `@250ms` is acknowledged and silent, so it never parses.
    public enum DepthSpeed: Int, Hashable, Sendable, CaseIterable {
        /// `@100ms`.
        case milliseconds100 = 100
        /// No suffix.
        case milliseconds250 = 250
        /// `@500ms`.
        case milliseconds500 = 500

        /// The update period.
        public var interval: Duration { .milliseconds(rawValue) }
    }

    /// Update speed of mark and index price streams: every 3 s by default, `@1s` for 1 s.
    public enum PriceSpeed: Int, Hashable, Sendable, CaseIterable {
        /// `@1s`.
        case oneSecond = 1
        /// No suffix.
        case threeSeconds = 3

        /// The update period.
        public var interval: Duration { .seconds(rawValue) }
    }

    /// Contract type in `continuousKline` / `indexPriceKline` names, lower case as spelled.
    public enum ContractType: String, Hashable, Sendable, CaseIterable {
        case perpetual
        case currentQuarter = "current_quarter"
        case nextQuarter = "next_quarter"
    }

    /// The family, the key of ``StreamRouteTable``.
    public var kind: BinanceStreamKind {
        switch self {
        case .aggTrade: .aggTrade
        case .trade: .trade
        case .bookTicker: .bookTicker
        case .depth: .depth
        case .partialDepth: .partialDepth
        case .rpiDepth: .rpiDepth
        case .markPrice: .markPrice
        case .kline: .kline
        case .continuousKline: .continuousKline
        case .miniTicker: .miniTicker
        case .ticker: .ticker
        case .forceOrder: .forceOrder
        case .compositeIndex: .compositeIndex
        case .contractInfo: .contractInfo
        case .assetIndex: .assetIndex
        case .indexPrice: .indexPrice
        case .markPriceKline: .markPriceKline
        case .indexPriceKline: .indexPriceKline
        }
    }

    /// The period at which Binance pushes this stream whether or not anything changed, when
    /// Binance documents one (depth, mark/index price, klines); nil for event-driven streams
    /// (trades, tickers of the book, liquidations), whose rate depends on the market.
    public var documentedCadence: Duration? {
        switch self {
        case .depth(let speed), .partialDepth(_, let speed): speed.interval
        case .rpiDepth: .milliseconds(500)
        case .markPrice(let speed), .indexPrice(let speed): speed.interval
        case .kline, .continuousKline: .milliseconds(250)
        default: nil
        }
    }
}

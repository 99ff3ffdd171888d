/// How one Binance payload's members become an entry's fields: the table the normalizer
/// runs over, one per stream type. The contract's field names live here and nowhere else.
struct EntryLayout: Sendable {
    /// How a member's value is checked and written.
    enum Format: Sendable {
        /// A JSON integer, written as is.
        case integer
        /// A JSON integer; absent when 0 (COIN-M delivery contracts' `T` of `markPrice`).
        case nonZeroInteger
        /// A decimal string formatted at the instrument's price decimals; `""` is absent.
        case price
        /// A decimal string formatted at the instrument's quantity decimals; `""` is absent.
        case quantity
        /// A decimal string kept as written (rates, percentages, index values); `""` is absent.
        case decimal
        /// A string, written without its quotes.
        case text
        /// `m` (buyer is maker) → the aggressor: true → `sell`, false → `buy`.
        case makerSide
        /// `BUY` / `SELL` → `buy` / `sell`.
        case orderSide
        /// A boolean → `1` / `0`.
        case flag
        /// Depth levels `[["price","qty"],…]`, each formatted at the instrument's precision.
        case levels
        /// Any JSON value, kept as its exact text (nested structures).
        case json
    }

    /// One member the layout reads.
    struct Field: Sendable {
        let key: JSONKey
        let name: StaticString
        let format: Format
        let required: Bool

        init(_ key: StaticString, _ name: StaticString, _ format: Format, required: Bool = false) {
            self.key = JSONKey(key)
            self.name = name
            self.format = format
            self.required = required
        }
    }

    /// Where the entry's `symbol` is read.
    enum SymbolSource: Sendable {
        /// A member of the outer object (`s`, or `ps` / `i` for pairs).
        case outer(JSONKey)
        /// A member of the nested object (`o.s` of `forceOrder`).
        case inner(JSONKey)
    }

    let type: EntryType
    let symbol: SymbolSource
    /// Members of the outer object, written in this order.
    let outer: [Field]
    /// The nested object (`k` of klines, `o` of `forceOrder`) and its members.
    let innerKey: JSONKey?
    let inner: [Field]
    /// Fields with fixed values, written after the outer ones.
    let constants: [(StaticString, StaticString)]
    /// Whether an outer field holds depth levels (formatted during the scan when it can).
    let formatsLevels: Bool

    init(
        _ type: EntryType,
        symbol: SymbolSource = .outer(JSONKey("s")),
        outer: [Field],
        inner innerKey: StaticString? = nil,
        _ inner: [Field] = [],
        constants: [(StaticString, StaticString)] = []
    ) {
        self.type = type
        self.symbol = symbol
        self.outer = outer
        self.innerKey = innerKey.map { JSONKey($0) }
        self.inner = inner
        self.constants = constants
        formatsLevels = outer.contains { if case .levels = $0.format { true } else { false } }
    }

    // MARK: The layouts

    static let aggTrade = EntryLayout(.aggTrade, outer: [
        Field("a", "agg_trade_id", .integer, required: true),
        Field("p", "price", .price, required: true),
        Field("q", "qty", .quantity, required: true),
        Field("f", "first_trade_id", .integer),
        Field("l", "last_trade_id", .integer),
        Field("T", "trade_time_ms", .integer),
        Field("m", "side", .makerSide, required: true),
        Field("nq", "normal_qty", .quantity),
    ])

    static let trade = EntryLayout(.trade, outer: [
        Field("t", "trade_id", .integer, required: true),
        Field("p", "price", .price, required: true),
        Field("q", "qty", .quantity, required: true),
        Field("T", "trade_time_ms", .integer),
        Field("m", "side", .makerSide, required: true),
        Field("X", "execution_type", .text),
    ])

    static let bookTicker = EntryLayout(.bookTicker, outer: [
        Field("u", "update_id", .integer, required: true),
        Field("b", "bid_price", .price, required: true),
        Field("B", "bid_qty", .quantity, required: true),
        Field("a", "ask_price", .price, required: true),
        Field("A", "ask_qty", .quantity, required: true),
        Field("T", "transaction_time_ms", .integer),
        Field("ps", "pair", .text),
    ])

    private static let depthFields = [
        Field("U", "first_update_id", .integer, required: true),
        Field("u", "final_update_id", .integer, required: true),
        Field("pu", "prev_final_update_id", .integer),
        Field("T", "transaction_time_ms", .integer),
        Field("b", "bids", .levels, required: true),
        Field("a", "asks", .levels, required: true),
        Field("ps", "pair", .text),
    ]
    static let depthUpdate = EntryLayout(.depthUpdate, outer: depthFields)
    static let depthPartial = EntryLayout(.depthPartial, outer: depthFields)

    static let markPrice = EntryLayout(.markPrice, outer: [
        Field("p", "mark_price", .price, required: true),
        Field("i", "index_price", .price),
        Field("P", "estimated_settle_price", .price),
        Field("r", "funding_rate", .decimal),
        Field("T", "next_funding_time_ms", .nonZeroInteger),
        Field("ap", "mark_price_moving_avg", .price),
    ])

    private static let klineFields = [
        Field("i", "interval", .text, required: true),
        Field("t", "open_time_ms", .integer, required: true),
        Field("T", "close_time_ms", .integer, required: true),
        Field("o", "open", .price, required: true),
        Field("h", "high", .price, required: true),
        Field("l", "low", .price, required: true),
        Field("c", "close", .price, required: true),
        Field("v", "volume", .quantity),
        Field("q", "quote_volume", .decimal),
        Field("n", "trades", .integer),
        Field("x", "closed", .flag, required: true),
        Field("V", "taker_buy_volume", .quantity),
        Field("Q", "taker_buy_quote_volume", .decimal),
        Field("f", "first_trade_id", .integer),
        Field("L", "last_trade_id", .integer),
    ]
    static let kline = EntryLayout(.kline, outer: [Field("ps", "pair", .text)], inner: "k", klineFields)
    static let continuousKline = EntryLayout(
        .continuousKline,
        symbol: .outer(JSONKey("ps")),
        outer: [Field("ps", "pair", .text), Field("ct", "contract_type", .text)],
        inner: "k",
        klineFields
    )
    /// COIN-M `markPriceKline`: a kline of the mark price (`k.s` is the symbol).
    static let markPriceKline = EntryLayout(
        .kline,
        symbol: .inner(JSONKey("s")),
        outer: [Field("ps", "pair", .text)],
        inner: "k",
        klineFields,
        constants: [("price_source", "mark_price")]
    )
    /// COIN-M `indexPriceKline`: a kline of the pair's index (`k.s` is `"0"`: the pair names it).
    static let indexPriceKline = EntryLayout(
        .kline,
        symbol: .outer(JSONKey("ps")),
        outer: [Field("ps", "pair", .text)],
        inner: "k",
        klineFields,
        constants: [("price_source", "index_price")]
    )

    static let liquidation = EntryLayout(
        .liquidation,
        symbol: .inner(JSONKey("s")),
        outer: [],
        inner: "o",
        [
            Field("S", "side", .orderSide, required: true),
            Field("o", "order_type", .text),
            Field("f", "time_in_force", .text),
            Field("q", "orig_qty", .quantity, required: true),
            Field("p", "price", .price, required: true),
            Field("ap", "avg_price", .price),
            Field("X", "order_status", .text),
            Field("l", "last_filled_qty", .quantity),
            Field("z", "filled_accumulated_qty", .quantity),
            Field("T", "trade_time_ms", .integer),
            Field("ps", "pair", .text),
        ]
    )

    static let ticker = EntryLayout(.ticker, outer: [
        Field("p", "price_change", .price),
        Field("P", "price_change_percent", .decimal),
        Field("w", "weighted_avg_price", .price),
        Field("c", "last_price", .price, required: true),
        Field("Q", "last_qty", .quantity),
        Field("o", "open", .price),
        Field("h", "high", .price),
        Field("l", "low", .price),
        Field("v", "volume", .quantity),
        Field("q", "quote_volume", .decimal),
        Field("O", "open_time_ms", .integer),
        Field("C", "close_time_ms", .integer),
        Field("F", "first_trade_id", .integer),
        Field("L", "last_trade_id", .integer),
        Field("n", "trades", .integer),
        Field("ps", "pair", .text),
    ])

    static let miniTicker = EntryLayout(.miniTicker, outer: [
        Field("c", "close", .price, required: true),
        Field("o", "open", .price),
        Field("h", "high", .price),
        Field("l", "low", .price),
        Field("v", "volume", .quantity),
        Field("q", "quote_volume", .decimal),
        Field("ps", "pair", .text),
    ])

    /// COIN-M `<pair>@indexPrice`: the pair is `i`.
    static let indexPrice = EntryLayout(.indexPrice, symbol: .outer(JSONKey("i")), outer: [
        Field("p", "index_price", .decimal, required: true),
    ])

    static let contractInfo = EntryLayout(.contractInfo, outer: [
        Field("ps", "pair", .text),
        Field("ct", "contract_type", .text),
        Field("dt", "delivery_date_ms", .integer),
        Field("ot", "onboard_date_ms", .integer),
        Field("cs", "contract_status", .text),
        Field("T", "transaction_time_ms", .integer),
        Field("bks", "brackets", .json),
    ])

    static let compositeIndex = EntryLayout(.compositeIndex, outer: [
        Field("p", "price", .decimal, required: true),
        Field("C", "component_type", .text),
        Field("c", "components", .json),
    ])

    static let assetIndex = EntryLayout(.assetIndex, outer: [
        Field("i", "index_price", .decimal, required: true),
        Field("b", "bid_buffer", .decimal),
        Field("a", "ask_buffer", .decimal),
        Field("B", "bid_rate", .decimal),
        Field("A", "ask_rate", .decimal),
        Field("q", "auto_exchange_bid_buffer", .decimal),
        Field("g", "auto_exchange_ask_buffer", .decimal),
        Field("Q", "auto_exchange_bid_rate", .decimal),
        Field("G", "auto_exchange_ask_rate", .decimal),
    ])

    /// The layout of `type`'s payloads, or nil for a type the bridge keeps as `raw`.
    static func of(_ type: BinanceStreamType) -> EntryLayout? {
        switch type {
        case .aggTrade: aggTrade
        case .trade: trade
        case .bookTicker: bookTicker
        case .depth: depthUpdate
        case .partialDepth: depthPartial
        case .markPrice: markPrice
        case .kline: kline
        case .continuousKline: continuousKline
        case .markPriceKline: markPriceKline
        case .indexPriceKline: indexPriceKline
        case .forceOrder: liquidation
        case .ticker: ticker
        case .miniTicker: miniTicker
        case .indexPrice: indexPrice
        case .contractInfo: contractInfo
        case .compositeIndex: compositeIndex
        case .assetIndex: assetIndex
        // RPI depth (orders from retail price improvement) is not modelled yet: `raw`.
        case .rpiDepth: nil
        }
    }
}

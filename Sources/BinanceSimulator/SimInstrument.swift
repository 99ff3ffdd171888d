import BridgeCore

/// A fixed-point decimal format: values are integers counted in units of 10^-decimals.
///
/// Prices and quantities travel as integers ("ticks" × `unit`) and are formatted with
/// exactly `decimals` digits after the point, as Binance formats them by `tickSize` /
/// `stepSize` (e.g. tick `0.10` → two decimals: `"97312.40"`).
public struct DecimalFormat: Sendable, Equatable {
    /// Digits after the decimal point.
    public var decimals: Int

    public init(decimals: Int) {
        self.decimals = decimals
    }

    /// `value` × 10^-decimals as text, e.g. 9731240 with 2 decimals → `"97312.40"`.
    public func format(_ value: Int64) -> String {
        var text = ""
        appendFormatted(value, to: &text)
        return text
    }

    /// Appends the formatted value without intermediate strings.
    public func appendFormatted(_ value: Int64, to text: inout String) {
        if value < 0 { text.append("-") }
        let magnitude = value.magnitude
        guard decimals > 0 else {
            text.append(String(magnitude))
            return
        }
        var divisor: UInt64 = 1
        for _ in 0..<decimals { divisor *= 10 }
        text.append(String(magnitude / divisor))
        text.append(".")
        let fraction = String(magnitude % divisor)
        for _ in fraction.count..<decimals { text.append("0") }
        text.append(fraction)
    }
}

/// One simulated contract with Binance's instrument metadata.
public struct SimInstrument: Sendable, Equatable {
    /// Exchange symbol: `BTCUSDT`, `BTCUSD_PERP`, `BTCUSD_261225`.
    public var symbol: String
    public var market: BinanceMarket
    /// Underlying pair: `BTCUSDT`, `BTCUSD`.
    public var pair: String
    /// `PERPETUAL`, `CURRENT_QUARTER`, …
    public var contractType: String
    public var baseAsset: String
    public var quoteAsset: String
    public var marginAsset: String
    /// Price format (decimals of `tickSize`).
    public var price: DecimalFormat
    /// Tick size in price units (e.g. 10 = 0.10 at 2 decimals).
    public var tick: Int64
    /// Quantity format (decimals of `stepSize`).
    public var quantity: DecimalFormat
    /// Step size in quantity units.
    public var step: Int64
    /// `pricePrecision` / `quantityPrecision` as exchangeInfo reports them.
    public var pricePrecision: Int
    public var quantityPrecision: Int
    /// Starting mid price in price units.
    public var startPrice: Int64
    /// COIN-M contract size in USD (nil for USD-M).
    public var contractSize: Int?
    /// Delivery time (ms); Binance uses 4133404800000 (2100-12-25) for perpetuals.
    public var deliveryDate: Int64
    public var onboardDate: Int64

    /// The stream-name form of the symbol (`btcusdt`).
    public var streamSymbol: String { symbol.lowercased() }

    /// `tickSize` as exchangeInfo writes it.
    public var tickSizeText: String { price.format(tick) }
    /// `stepSize` as exchangeInfo writes it.
    public var stepSizeText: String { quantity.format(step) }
}

extension SimInstrument {
    private static let perpetualDelivery: Int64 = 4_133_404_800_000
    private static let onboard: Int64 = 1_569_398_400_000

    /// USD-M defaults: BTCUSDT, ETHUSDT, SOLUSDT perpetuals.
    static func usdm(_ base: String, price: Int, tick: Int64, priceDecimals: Int, step: Int64, quantityDecimals: Int, start: Int64) -> SimInstrument {
        SimInstrument(
            symbol: base + "USDT", market: .usdm, pair: base + "USDT", contractType: "PERPETUAL",
            baseAsset: base, quoteAsset: "USDT", marginAsset: "USDT",
            price: DecimalFormat(decimals: priceDecimals), tick: tick,
            quantity: DecimalFormat(decimals: quantityDecimals), step: step,
            pricePrecision: price, quantityPrecision: quantityDecimals, startPrice: start,
            contractSize: nil, deliveryDate: perpetualDelivery, onboardDate: onboard
        )
    }

    /// `count` more USD-M perpetuals, `X0000USDT`, `X0001USDT`…, ETHUSDT-like (price 2 decimals
    /// around 3,500, tick 0.01, step 0.001): a universe large enough for thousands of streams
    /// (the end-to-end benchmark subscribes 4,000).
    public static func synthetic(_ count: Int) -> [SimInstrument] {
        (0..<count).map { index in
            let digits = String(index)
            let base = "X" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
            return .usdm(base, price: 2, tick: 1, priceDecimals: 2, step: 1, quantityDecimals: 3, start: 350_000 + Int64(index))
        }
    }

    /// COIN-M contracts: `<BASE>USD_PERP` or `<BASE>USD_<yymmdd>`.
    static func coinm(_ base: String, suffix: String, contractType: String, delivery: Int64, tick: Int64, priceDecimals: Int, contractSize: Int, start: Int64) -> SimInstrument {
        SimInstrument(
            symbol: base + "USD_" + suffix, market: .coinm, pair: base + "USD", contractType: contractType,
            baseAsset: base, quoteAsset: "USD", marginAsset: base,
            price: DecimalFormat(decimals: priceDecimals), tick: tick,
            quantity: DecimalFormat(decimals: 0), step: 1,
            pricePrecision: priceDecimals, quantityPrecision: 0, startPrice: start,
            contractSize: contractSize, deliveryDate: delivery, onboardDate: onboard
        )
    }

    /// The default universe: three USD-M perpetuals, two COIN-M perpetuals and one COIN-M
    /// quarterly (2026-12-25) contract, with Binance's real tick and step sizes.
    public static let defaults: [SimInstrument] = [
        .usdm("BTC", price: 2, tick: 10, priceDecimals: 2, step: 1, quantityDecimals: 3, start: 9_731_240),
        .usdm("ETH", price: 2, tick: 1, priceDecimals: 2, step: 1, quantityDecimals: 3, start: 352_117),
        .usdm("SOL", price: 4, tick: 100, priceDecimals: 4, step: 1, quantityDecimals: 0, start: 2_413_500),
        .coinm("BTC", suffix: "PERP", contractType: "PERPETUAL", delivery: perpetualDelivery, tick: 1, priceDecimals: 1, contractSize: 100, start: 973_050),
        .coinm("ETH", suffix: "PERP", contractType: "PERPETUAL", delivery: perpetualDelivery, tick: 1, priceDecimals: 2, contractSize: 10, start: 352_090),
        .coinm("BTC", suffix: "261225", contractType: "CURRENT_QUARTER", delivery: 1_798_185_600_000, tick: 1, priceDecimals: 1, contractSize: 100, start: 981_220),
    ]
}

/// What the normalizer needs of an instrument: how many decimals its prices and quantities
/// are written with.
///
/// From Binance's filters, not from `pricePrecision` (protocol §6: that field is not the tick
/// size): price decimals are the decimals of `tickSize`, quantity decimals those of
/// `stepSize`.
public struct InstrumentPrecision: Sendable, Equatable, Hashable {
    /// Decimals of the tick size (`0.10` → 1).
    public var priceDecimals: Int
    /// Decimals of the step size (`0.001` → 3).
    public var quantityDecimals: Int
    /// The tick size in units of `priceDecimals` (`0.10` → 1, `0.5` → 5); 0 when unknown. Order
    /// books lay their top levels out on this grid.
    public var priceTick: Int64

    public init(priceDecimals: Int, quantityDecimals: Int, priceTick: Int64 = 0) {
        self.priceDecimals = priceDecimals
        self.quantityDecimals = quantityDecimals
        self.priceTick = priceTick
    }

    /// From Binance's `tickSize` and `stepSize` (`"0.10"`, `"0.001"`); `fallbackDecimals` when
    /// a text has no readable decimals.
    public init(tickSize: String, stepSize: String, fallbackDecimals: (price: Int, quantity: Int) = (8, 8)) {
        let priceDecimals = DecimalText.decimals(of: tickSize) ?? fallbackDecimals.price
        let tick = Array(tickSize.utf8).withUnsafeBytes { FixedPoint.parse($0, 0..<$0.count, decimals: priceDecimals)?.value } ?? 0
        self.init(priceDecimals: priceDecimals, quantityDecimals: DecimalText.decimals(of: stepSize) ?? fallbackDecimals.quantity, priceTick: tick)
    }
}

/// Instrument precisions of both markets by exchange symbol (`BTCUSDT`), as one immutable
/// value: the normalizer reads a snapshot, and a reload swaps the whole value.
public struct InstrumentPrecisions: Sendable, Equatable {
    // One table per market in a field of its own: a lookup hashes the symbol only (a
    // dictionary keyed by market cost a second hash per message on the hot path).
    private var usdm: [String: InstrumentPrecision] = [:]
    private var coinm: [String: InstrumentPrecision] = [:]

    /// No instruments: every decimal passes through as Binance wrote it.
    public init() {}

    /// The precisions of `market`'s symbols.
    public init(_ byMarket: [BinanceMarket: [String: InstrumentPrecision]]) {
        for (market, precisions) in byMarket { set(precisions, for: market) }
    }

    /// The precision of `symbol` (upper case, as in payloads) in `market`, if known.
    @inline(__always)
    public func precision(of symbol: String, in market: BinanceMarket) -> InstrumentPrecision? {
        switch market {
        case .usdm: usdm[symbol]
        case .coinm: coinm[symbol]
        }
    }

    /// Replaces one market's precisions.
    public mutating func set(_ precisions: [String: InstrumentPrecision], for market: BinanceMarket) {
        switch market {
        case .usdm: usdm = precisions
        case .coinm: coinm = precisions
        }
    }

    /// Number of instruments of `market`.
    public func count(in market: BinanceMarket) -> Int {
        switch market {
        case .usdm: usdm.count
        case .coinm: coinm.count
        }
    }
}

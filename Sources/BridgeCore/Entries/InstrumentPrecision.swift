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

    public init(priceDecimals: Int, quantityDecimals: Int) {
        self.priceDecimals = priceDecimals
        self.quantityDecimals = quantityDecimals
    }
}

/// Instrument precisions of both markets by exchange symbol (`BTCUSDT`), as one immutable
/// value: the normalizer reads a snapshot, and a reload swaps the whole value.
public struct InstrumentPrecisions: Sendable, Equatable {
    private var byMarket: [BinanceMarket: [String: InstrumentPrecision]]

    /// No instruments: every decimal passes through as Binance wrote it.
    public init() {
        byMarket = [:]
    }

    /// The precisions of `market`'s symbols.
    public init(_ byMarket: [BinanceMarket: [String: InstrumentPrecision]]) {
        self.byMarket = byMarket
    }

    /// The precision of `symbol` (upper case, as in payloads) in `market`, if known.
    @inline(__always)
    public func precision(of symbol: String, in market: BinanceMarket) -> InstrumentPrecision? {
        byMarket[market]?[symbol]
    }

    /// Replaces one market's precisions.
    public mutating func set(_ precisions: [String: InstrumentPrecision], for market: BinanceMarket) {
        byMarket[market] = precisions
    }

    /// Number of instruments of `market`.
    public func count(in market: BinanceMarket) -> Int { byMarket[market]?.count ?? 0 }
}

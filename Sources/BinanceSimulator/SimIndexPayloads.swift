import BridgeCore

/// Payloads of the index-like streams whose values the simulator derives from a symbol's fair
/// price rather than from its book: `compositeIndex`, `assetIndex` and `!contractInfo`.
///
/// Every price here is fixed-point at 8 decimals, as Binance prints index prices
/// (`"11784.62659091"`); products go through `Int128` so no realistic price can overflow.
enum SimIndexPayloads {
    /// Index prices, weights and rates are printed with 8 decimals.
    static let format = DecimalFormat(decimals: 8)
    static let scale: Int64 = 100_000_000

    /// `value` in `instrument`'s price units rescaled to 8 decimals.
    static func scaledTo8(_ value: Int64, _ instrument: SimInstrument) -> Int64 {
        var result = value
        for _ in instrument.price.decimals..<8 { result *= 10 }
        return result
    }

    // MARK: compositeIndex

    /// One constituent of the synthetic composition: the symbol's base asset on a few quote
    /// assets, as an index blends several spot markets. Weights are in basis points (Σ 10,000).
    struct Component: Sendable {
        var quote: String
        var weightBasisPoints: Int64
    }

    static let components = [
        Component(quote: "USDT", weightBasisPoints: 5_000),
        Component(quote: "USDC", weightBasisPoints: 3_000),
        Component(quote: "FDUSD", weightBasisPoints: 2_000),
    ]

    /// Constituent prices stray at most this many ticks from the fair price.
    static let maxComponentDeviation = 3

    /// Constituent prices (8 decimals) at `now`: the fair price plus a deviation that depends
    /// only on (seed, symbol, second), so the value never depends on who is subscribed.
    static func componentPrices(fair: Int64, _ instrument: SimInstrument, seed: UInt64, universeIndex: Int, now: Int64) -> [Int64] {
        var random = SimRandom(seed: seed, stream: 0x434F_4D50_0000_0000 ^ (UInt64(universeIndex) << 40) ^ UInt64(now / 1_000))
        return components.map { _ in
            let deviation = Int64(random.below(2 * maxComponentDeviation + 1) - maxComponentDeviation)
            return scaledTo8(max(instrument.tick, fair + deviation * instrument.tick), instrument)
        }
    }

    /// `{"e":"compositeIndex",…,"p":…,"C":"baseAsset","c":[{"b","q","w","W","i"}…]}`: `p` is the
    /// percentage-weighted mean of the constituents (Σ `W`·`i`), and `w` the quantity weight
    /// that gives each constituent its share (`w`·`i` = `W`·`p`).
    static func compositeIndex(_ instrument: SimInstrument, fair: Int64, seed: UInt64, universeIndex: Int, now: Int64) -> String {
        let prices = componentPrices(fair: fair, instrument, seed: seed, universeIndex: universeIndex, now: now)
        var weighted: Int128 = 0
        for (component, price) in zip(components, prices) { weighted += Int128(component.weightBasisPoints) * Int128(price) }
        let index = Int64(weighted / 10_000)
        var json = JSONWriter(capacity: 420)
        json.beginObject()
        json.string("e", "compositeIndex")
        json.int("E", now)
        json.string("s", instrument.symbol)
        json.decimal("p", index, format)
        json.string("C", "baseAsset")
        json.beginArray("c")
        for (component, price) in zip(components, prices) {
            let percent = component.weightBasisPoints * (scale / 10_000)
            let quantityWeight = Int64(Int128(percent) * Int128(index) / Int128(price))
            json.beginObject()
            json.string("b", instrument.baseAsset)
            json.string("q", component.quote)
            json.decimal("w", quantityWeight, format)
            json.decimal("W", percent, format)
            json.decimal("i", price, format)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.text
    }

    // MARK: assetIndex

    /// Multi-assets buffers in basis points: bid/ask buffer 10 %, auto-exchange buffers 5 %.
    static let bidAskBuffer: Int64 = 1_000
    static let autoExchangeBuffer: Int64 = 500

    /// `index` × (1 ± `buffer` bp), rounded to the nearest unit.
    static func rate(_ index: Int64, _ buffer: Int64, up: Bool) -> Int64 {
        let factor = Int128(10_000 + (up ? buffer : -buffer))
        return Int64((Int128(index) * factor + 5_000) / 10_000)
    }

    /// One `assetIndexUpdate` object (8 decimals): `i` the asset's index in USD, `b`/`a` the
    /// bid/ask buffers and `B`/`A` = `i`·(1 ∓ buffer), `q`/`g` and `Q`/`G` the same for
    /// auto-exchange.
    static func assetIndex(symbol: String, index: Int64, now: Int64, into json: inout JSONWriter) {
        json.beginObject()
        json.string("e", "assetIndexUpdate")
        json.int("E", now)
        json.string("s", symbol)
        json.decimal("i", index, format)
        json.decimal("b", bidAskBuffer * (scale / 10_000), format)
        json.decimal("a", bidAskBuffer * (scale / 10_000), format)
        json.decimal("B", rate(index, bidAskBuffer, up: false), format)
        json.decimal("A", rate(index, bidAskBuffer, up: true), format)
        json.decimal("q", autoExchangeBuffer * (scale / 10_000), format)
        json.decimal("g", autoExchangeBuffer * (scale / 10_000), format)
        json.decimal("Q", rate(index, autoExchangeBuffer, up: false), format)
        json.decimal("G", rate(index, autoExchangeBuffer, up: true), format)
        json.endObject()
    }

    // MARK: contractInfo

    /// One notional bracket of `bks`. Binance sends these as JSON numbers, not strings.
    struct Bracket: Sendable {
        var bracket: Int64
        var floor: Int64
        var cap: Int64
        /// Maintenance margin ratio and cumulative amount, as JSON number text.
        var maintenanceRatio: String
        var cumulative: String
        var minLeverage: Int64
        var maxLeverage: Int64
    }

    /// A three-tier schedule (`cf` accumulates `floor` × Δ`mmr`, as Binance's does).
    static let brackets = [
        Bracket(bracket: 1, floor: 0, cap: 50_000, maintenanceRatio: "0.004", cumulative: "0", minLeverage: 101, maxLeverage: 125),
        Bracket(bracket: 2, floor: 50_000, cap: 250_000, maintenanceRatio: "0.005", cumulative: "50", minLeverage: 76, maxLeverage: 100),
        Bracket(bracket: 3, floor: 250_000, cap: 3_000_000, maintenanceRatio: "0.01", cumulative: "1300", minLeverage: 51, maxLeverage: 75),
    ]

    /// `{"e":"contractInfo","E","T","s","ps","ct","dt","ot","cs","bks":[…],"st"}`. An
    /// all-market stream, so it carries `st` since the 2026-06-30 merge (protocol §1).
    static func contractInfo(_ instrument: SimInstrument, now: Int64) -> String {
        var json = JSONWriter(capacity: 420)
        json.beginObject()
        json.string("e", "contractInfo")
        json.int("E", now)
        json.int("T", now)
        json.string("s", instrument.symbol)
        json.string("ps", instrument.pair)
        json.string("ct", instrument.contractType)
        json.int("dt", instrument.deliveryDate)
        json.int("ot", instrument.onboardDate)
        json.string("cs", "TRADING")
        json.beginArray("bks")
        for bracket in brackets {
            json.beginObject()
            json.int("bs", bracket.bracket)
            json.int("bnf", bracket.floor)
            json.int("bnc", bracket.cap)
            json.raw("mmr", bracket.maintenanceRatio)
            json.raw("cf", bracket.cumulative)
            json.int("mi", bracket.minLeverage)
            json.int("ma", bracket.maxLeverage)
            json.endObject()
        }
        json.endArray()
        json.int("st", instrument.market == .usdm ? 1 : 2)
        json.endObject()
        return json.text
    }
}

import BridgeCore

/// The liquidation orders of one symbol, shaped by Binance's `forceOrder` rule: "only the
/// latest liquidation within 1000 ms is pushed, as a snapshot; no liquidation, no push".
///
/// Time is cut into one-second windows (aligned to the feed's first tick). When a window opens
/// it decides, with probability `perSecond`, that one liquidation happens at a random moment
/// strictly inside it; the order is priced against the book at the first tick at or after that
/// moment (its `T`), and pushed when the window closes (its `E`). So pushes of one symbol are at
/// least a second apart by construction, and the pushed rate is exactly `perSecond` on average —
/// which is why the rate is capped at one per second rather than silently thinned.
///
/// Its random generator is its own (not the book's), so turning liquidations on or off never
/// changes the book, trades or update ids of a seed. Liquidations are synthetic: they do not
/// trade against the simulated book or appear on the trade streams.
struct SimLiquidationModel: Sendable {
    /// One liquidation order, filled completely (`X` = `FILLED`, `l` = `z` = `q`).
    struct Liquidation: Sendable, Equatable {
        /// `S` = `SELL`: a long position was liquidated.
        var isSell: Bool
        /// `p`: the order's limit (bankruptcy) price, beyond the fill.
        var price: Int64
        /// `ap`: the average fill price, the best price on the side it hit.
        var averagePrice: Int64
        var quantity: Int64
        /// `T`: the tick the order was executed.
        var time: Int64
    }

    /// What a window decided at its start.
    private struct Pending: Sendable {
        var at: Int64
        var isSell: Bool
        var quantity: Int64
        /// Ticks between the fill and the order's limit price.
        var distance: Int64
    }

    let instrument: SimInstrument
    let perSecond: SimRatio
    private var random: SimRandom
    private var pending: Pending?
    private var happened: Liquidation?

    init(instrument: SimInstrument, seed: UInt64, index: Int, perSecond: Double) {
        self.instrument = instrument
        self.perSecond = SimRatio(perSecond)
        // A stream id far from the symbol models' (index + 1).
        random = SimRandom(seed: seed, stream: 0x4C49_5155_0000_0000 &+ UInt64(index + 1))
    }

    /// Opens the window `[start, start + 1000)`: maybe one liquidation, strictly after `start`
    /// so it can never share a tick with the previous window's push.
    mutating func openWindow(at start: Int64) {
        pending = nil
        happened = nil
        guard random.chance(perSecond) else { return }
        let offset = Int64(1 + random.below(999))
        let isSell = random.chance(1, in: 2)
        let scale = [1, 5, 20, 100, 500][random.below(5)]
        let quantity = Int64(1 + random.below(scale)) * instrument.step
        let distance = Int64(1 + random.below(30))
        pending = Pending(at: start + offset, isSell: isSell, quantity: quantity, distance: distance)
    }

    /// Executes the window's liquidation once its moment has come: a sell hits the best bid, a
    /// buy lifts the best ask (`fallback`, the fair price, when that side is empty).
    mutating func occur(now: Int64, book: SimOrderBook, fallback: Int64) {
        guard let order = pending, order.at <= now else { return }
        pending = nil
        let fill = (order.isSell ? book.bestBid?.price : book.bestAsk?.price) ?? fallback
        let offset = order.distance * instrument.tick
        let limit = order.isSell ? max(instrument.tick, fill - offset) : fill + offset
        happened = Liquidation(isSell: order.isSell, price: limit, averagePrice: fill, quantity: order.quantity, time: now)
    }

    /// Ends the window: its liquidation, if one happened, to be pushed now.
    mutating func closeWindow() -> Liquidation? {
        defer { happened = nil }
        return happened
    }

    /// The `forceOrder` event. `allMarket` adds the universe marker `st` that all-market rows
    /// carry since the 2026-06-30 merge (protocol §1), as `!bookTicker` does; it is placed at
    /// the top level, next to `E` (where Binance puts it inside liquidation events is not
    /// documented).
    static func payload(_ liquidation: Liquidation, _ instrument: SimInstrument, _ now: Int64, allMarket: Bool) -> String {
        var json = JSONWriter(capacity: 280)
        json.beginObject()
        json.string("e", "forceOrder")
        json.int("E", now)
        json.beginObject("o")
        json.string("s", instrument.symbol)
        if instrument.market == .coinm { json.string("ps", instrument.pair) }
        json.string("S", liquidation.isSell ? "SELL" : "BUY")
        json.string("o", "LIMIT")
        json.string("f", "IOC")
        json.decimal("q", liquidation.quantity, instrument.quantity)
        json.decimal("p", liquidation.price, instrument.price)
        json.decimal("ap", liquidation.averagePrice, instrument.price)
        json.string("X", "FILLED")
        json.decimal("l", liquidation.quantity, instrument.quantity)
        json.decimal("z", liquidation.quantity, instrument.quantity)
        json.int("T", liquidation.time)
        json.endObject()
        if allMarket { json.int("st", instrument.market == .usdm ? 1 : 2) }
        json.endObject()
        return json.text
    }
}

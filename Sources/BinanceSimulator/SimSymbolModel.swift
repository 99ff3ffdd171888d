/// The deterministic market of one symbol: a random-walk fair price, a real order book around
/// it, and takers that trade against the book.
///
/// ``step()`` advances by one exchange action and reports what changed. The sequence of
/// actions depends only on the seed and the symbol's index — never on wall-clock pacing — so
/// the same seed gives the same books, trades and update ids on every run.
struct SimSymbolModel: Sendable {
    /// One change to the book, with the update id Binance would give it.
    struct LevelChange: Sendable, Equatable {
        var isBid: Bool
        var price: Int64
        var quantity: Int64
        var updateId: Int64
    }

    /// One execution against the book.
    struct Trade: Sendable, Equatable {
        var tradeId: Int64
        var aggTradeId: Int64
        var price: Int64
        var quantity: Int64
        /// True when the buyer was the maker, i.e. the aggressor sold.
        var buyerIsMaker: Bool
    }

    /// What one step did.
    struct StepResult: Sendable, Equatable {
        var changes: [LevelChange] = []
        var trade: Trade?
    }

    let instrument: SimInstrument
    /// Share of steps that are trades.
    let tradeRatio: SimRatio
    private(set) var book: SimOrderBook
    private var random: SimRandom
    /// Fair value in price units; the book is built around it.
    private(set) var fair: Int64
    private var nextTradeId: Int64
    private var nextAggTradeId: Int64
    /// Levels kept per side (beyond Binance's 1,000-level snapshot limit there is nothing).
    static let maxDepth = 1_000
    /// Levels placed around the fair price at start.
    static let initialDepth = 200

    /// Changes whose book checksum is remembered per symbol by default (``SimOrderBook/checksum(at:)``).
    static let defaultChecksumHistory = 8_192

    init(instrument: SimInstrument, seed: UInt64, index: Int, tradeRatio: SimRatio = SimRatio(0.2), checksumHistory: Int = defaultChecksumHistory) {
        self.instrument = instrument
        self.tradeRatio = tradeRatio
        random = SimRandom(seed: seed, stream: UInt64(index + 1))
        fair = instrument.startPrice
        // Large, symbol-specific starting ids, like Binance's (ids are never small or shared).
        let base = Int64(1_000_000_000) * Int64(index + 7)
        book = SimOrderBook(
            lastUpdateId: base, priceDecimals: instrument.price.decimals, quantityDecimals: instrument.quantity.decimals, history: checksumHistory
        )
        nextTradeId = base / 10 + 1
        nextAggTradeId = base / 20 + 1
        for distance in 1...Self.initialDepth {
            book.set(isBid: true, price: fair - Int64(distance) * instrument.tick, quantity: randomQuantity())
            book.set(isBid: false, price: fair + Int64(distance) * instrument.tick, quantity: randomQuantity())
        }
    }

    /// A quantity of 1 to 2,000 steps, skewed small like real books.
    private mutating func randomQuantity() -> Int64 {
        let scale = [1, 5, 20, 100, 2_000][random.below(5)]
        return Int64(1 + random.below(scale)) * instrument.step
    }

    /// Advances the market by one action: a trade (with probability ``tradeRatio``) or a book
    /// update.
    mutating func step() -> StepResult {
        var result = StepResult()
        // Random walk of the fair price, one tick at a time.
        switch random.below(16) {
        case 0: fair += instrument.tick
        case 1: fair = max(instrument.tick * 10, fair - instrument.tick)
        default: break
        }
        if random.chance(tradeRatio) {
            trade(into: &result)
        } else {
            updateLevel(into: &result)
        }
        for removed in book.trim(to: Self.maxDepth) {
            result.changes.append(LevelChange(isBid: removed.isBid, price: removed.price, quantity: 0, updateId: removed.updateId))
        }
        return result
    }

    private mutating func trade(into result: inout StepResult) {
        // Takers lean towards the fair price: buy when the ask is at or below fair.
        let buy: Bool
        if let ask = book.bestAsk, let bid = book.bestBid {
            buy = ask.price <= fair ? true : (bid.price >= fair ? false : random.chance(1, in: 2))
        } else {
            buy = book.bestAsk != nil
        }
        guard let level = buy ? book.bestAsk : book.bestBid else {
            updateLevel(into: &result)
            return
        }
        let quantity = min(level.quantity, randomQuantity())
        let remaining = level.quantity - quantity
        let updateId = book.set(isBid: !buy, price: level.price, quantity: remaining)
        result.changes.append(LevelChange(isBid: !buy, price: level.price, quantity: remaining, updateId: updateId))
        result.trade = Trade(tradeId: nextTradeId, aggTradeId: nextAggTradeId, price: level.price, quantity: quantity, buyerIsMaker: !buy)
        nextTradeId += 1
        nextAggTradeId += 1
    }

    private mutating func updateLevel(into result: inout StepResult) {
        let isBid = random.chance(1, in: 2)
        let distance = Int64(1 + random.below(random.chance(3, in: 4) ? 10 : 200)) * instrument.tick
        var price = isBid ? fair - distance : fair + distance
        // Never cross the book: a resting bid stays below the best ask and vice versa.
        if isBid, let ask = book.bestAsk, price >= ask.price { price = ask.price - instrument.tick }
        if !isBid, let bid = book.bestBid, price <= bid.price { price = bid.price + instrument.tick }
        guard price > 0 else { return }
        let existing = book.quantity(isBid: isBid, price: price)
        // A quarter of updates on existing levels cancel them.
        let quantity = existing > 0 && random.chance(1, in: 4) ? 0 : randomQuantity()
        let updateId = book.set(isBid: isBid, price: price, quantity: quantity)
        result.changes.append(LevelChange(isBid: isBid, price: price, quantity: quantity, updateId: updateId))
    }
}

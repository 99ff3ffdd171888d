import BridgeCore

/// The simulator's order book for one symbol: price levels as integers (price units → quantity
/// units), bids sorted descending and asks ascending, with Binance's update-id counter.
///
/// Every change bumps ``lastUpdateId`` by one, so the diff streams' `U`/`u`/`pu` chain and the
/// REST snapshot's `lastUpdateId` describe the same history: snapshot + every later diff
/// rebuilds this book exactly.
struct SimOrderBook: Sendable, Equatable {
    /// One price level.
    struct Level: Sendable, Equatable {
        var price: Int64
        var quantity: Int64
    }

    /// Best first (descending prices).
    private(set) var bids: [Level] = []
    /// Best first (ascending prices).
    private(set) var asks: [Level] = []
    /// The id of the last change applied.
    private(set) var lastUpdateId: Int64
    /// ``BookChecksum`` of every level (prices and quantities at these decimals).
    private(set) var checksum: UInt64 = 0
    private let priceDecimals: Int
    private let quantityDecimals: Int
    /// The checksum after each of the last `history.count` changes, by update id modulo the
    /// count: what tests compare a consumer's book with at the update id it reached.
    private var history: [UInt64]

    init(lastUpdateId: Int64, priceDecimals: Int = 8, quantityDecimals: Int = 8, history: Int = 0) {
        self.lastUpdateId = lastUpdateId
        self.priceDecimals = priceDecimals
        self.quantityDecimals = quantityDecimals
        self.history = Array(repeating: 0, count: history)
    }

    /// The checksum of the book right after change `updateId`, while it is in the history
    /// (the last `history` changes); nil otherwise.
    func checksum(at updateId: Int64) -> UInt64? {
        guard !history.isEmpty, updateId <= lastUpdateId, updateId > lastUpdateId - Int64(history.count) else { return nil }
        return history[Int(updateId % Int64(history.count))]
    }

    var bestBid: Level? { bids.first }
    var bestAsk: Level? { asks.first }

    /// Sets the quantity of a level (0 removes it) and returns the update id of the change.
    @discardableResult
    mutating func set(isBid: Bool, price: Int64, quantity: Int64) -> Int64 {
        let old = isBid ? Self.set(&bids, price: price, quantity: quantity, descending: true) : Self.set(&asks, price: price, quantity: quantity, descending: false)
        let (priceDecimals, quantityDecimals) = (self.priceDecimals, self.quantityDecimals)
        func level(_ quantity: Int64) -> UInt64 {
            BookChecksum.level(isBid: isBid, price: price, quantity: quantity, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals)
        }
        if old != 0 { checksum &-= level(old) }
        if quantity > 0 { checksum &+= level(quantity) }
        lastUpdateId += 1
        if !history.isEmpty { history[Int(lastUpdateId % Int64(history.count))] = checksum }
        return lastUpdateId
    }

    /// The quantity at `price` (0 when there is no level).
    func quantity(isBid: Bool, price: Int64) -> Int64 {
        let side = isBid ? bids : asks
        let index = Self.index(of: price, in: side, descending: isBid)
        return index < side.count && side[index].price == price ? side[index].quantity : 0
    }

    private static func index(of price: Int64, in levels: [Level], descending: Bool) -> Int {
        var low = 0
        var high = levels.count
        while low < high {
            let mid = (low + high) / 2
            let before = descending ? levels[mid].price > price : levels[mid].price < price
            if before { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Sets one level; returns the quantity it had (0 if none).
    @discardableResult
    private static func set(_ levels: inout [Level], price: Int64, quantity: Int64, descending: Bool) -> Int64 {
        let index = index(of: price, in: levels, descending: descending)
        let exists = index < levels.count && levels[index].price == price
        let old = exists ? levels[index].quantity : 0
        switch (exists, quantity > 0) {
        case (true, true): levels[index].quantity = quantity
        case (true, false): levels.remove(at: index)
        case (false, true): levels.insert(Level(price: price, quantity: quantity), at: index)
        case (false, false): break  // removing a level that is not there is normal on Binance
        }
        return old
    }

    /// Applies absolute level quantities (a diff event) without counting update ids: used by
    /// consumers and tests that rebuild a book from a snapshot and diffs.
    mutating func apply(isBid: Bool, price: Int64, quantity: Int64, updateId: Int64) {
        if isBid {
            Self.set(&bids, price: price, quantity: quantity, descending: true)
        } else {
            Self.set(&asks, price: price, quantity: quantity, descending: false)
        }
        lastUpdateId = updateId
    }

    /// Trims each side to its best `depth` levels (far levels vanish silently on Binance too:
    /// the REST snapshot is limited to 1,000 levels). Returns the removed levels, each with
    /// its own update id, so the diff stream reports them as deletions.
    mutating func trim(to depth: Int) -> [(isBid: Bool, price: Int64, updateId: Int64)] {
        var removed: [(isBid: Bool, price: Int64, updateId: Int64)] = []
        while bids.count > depth, let last = bids.last {
            removed.append((true, last.price, set(isBid: true, price: last.price, quantity: 0)))
        }
        while asks.count > depth, let last = asks.last {
            removed.append((false, last.price, set(isBid: false, price: last.price, quantity: 0)))
        }
        return removed
    }
}

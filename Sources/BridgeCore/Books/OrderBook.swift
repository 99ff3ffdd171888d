/// One price level: price and quantity as fixed-point integers at the book's scales.
public struct BookLevel: Sendable, Equatable, Hashable {
    public var price: Int64
    public var quantity: Int64

    @inline(__always)
    public init(price: Int64, quantity: Int64) {
        self.price = price
        self.quantity = quantity
    }
}

/// One side of a book, sorted with the **best level last**: bids by ascending price, asks by
/// descending price. Almost every change lands near the top of the book, so keeping the top
/// at the end makes an insert or a removal move only the few levels above it (a
/// best-first array would move the whole side, thousands of levels, for each one).
public struct BookSide: Sendable, Equatable {
    public let isBid: Bool
    /// Levels, worst first, best last.
    public private(set) var levels: [BookLevel] = []

    public init(isBid: Bool) {
        self.isBid = isBid
    }

    /// Number of levels.
    public var count: Int { levels.count }
    /// The best level (highest bid, lowest ask).
    public var best: BookLevel? { levels.last }

    /// Index of the first level not worse than `price` (where `price` is or would go).
    ///
    /// Galloping from the top (the end): a change `d` levels from the best costs about
    /// 2·log₂(d) probes in memory next to the top, instead of log₂(count) spread over the
    /// whole side — almost every change is near the top.
    @inline(__always)
    private func lowerBound(_ price: Int64) -> Int {
        isBid ? Self.lowerBound(levels, price) { $0 < $1 } : Self.lowerBound(levels, price) { $0 > $1 }
    }

    @inline(__always)
    private static func lowerBound(_ levels: [BookLevel], _ price: Int64, _ worse: (Int64, Int64) -> Bool) -> Int {
        levels.withUnsafeBufferPointer { buffer in
            var high = buffer.count  // every index ≥ high is not worse than `price`
            var probe = high &- 1
            var step = 1
            while probe >= 0, !worse(buffer[probe].price, price) {
                high = probe
                probe &-= step
                step &<<= 1
            }
            var low = max(probe &+ 1, 0)  // every index < low is worse
            while low < high {
                let mid = (low &+ high) &>> 1
                if worse(buffer[mid].price, price) { low = mid &+ 1 } else { high = mid }
            }
            return low
        }
    }

    /// Sets the level at `price` to `quantity` (absolute; 0 removes it; removing a level that
    /// is not there is normal on Binance). Returns the quantity it had (0 if none).
    @inline(__always)
    @discardableResult
    public mutating func set(price: Int64, quantity: Int64) -> Int64 {
        let index = lowerBound(price)
        let old = levels.withUnsafeMutableBufferPointer { buffer -> Int64 in
            guard index < buffer.count, buffer[index].price == price else { return 0 }
            let old = buffer[index].quantity
            if quantity > 0 { buffer[index].quantity = quantity }
            return old
        }
        if old != 0 {
            if quantity == 0 { levels.remove(at: index) }
        } else if quantity > 0 {
            levels.insert(BookLevel(price: price, quantity: quantity), at: index)
        }
        return old
    }

    /// The quantity at `price` (0 if no level).
    public func quantity(at price: Int64) -> Int64 {
        let index = lowerBound(price)
        return index < levels.count && levels[index].price == price ? levels[index].quantity : 0
    }

    /// Replaces the side with `levels` in any order (a snapshot), dropping zero quantities
    /// and keeping the last quantity of a repeated price.
    public mutating func replace(with newLevels: [BookLevel]) {
        var sorted = newLevels.filter { $0.quantity > 0 }
        let isBid = self.isBid
        sorted.sort { isBid ? $0.price < $1.price : $0.price > $1.price }
        var unique: [BookLevel] = []
        unique.reserveCapacity(sorted.count)
        for level in sorted {
            if let last = unique.last, last.price == level.price { unique[unique.count - 1] = level } else { unique.append(level) }
        }
        levels = unique
    }

    /// The levels best first (what a snapshot lists), at most `limit`.
    public func bestFirst(limit: Int = .max) -> ReversedCollection<ArraySlice<BookLevel>> {
        levels[max(0, levels.count - limit)...].reversed()
    }
}

/// An order book of fixed-point levels: two ``BookSide``s, the id of the last update applied,
/// and a checksum over every level kept up to date as levels change (``BookChecksum``).
public struct OrderBook: Sendable, Equatable {
    public private(set) var bids = BookSide(isBid: true)
    public private(set) var asks = BookSide(isBid: false)
    /// `u` of the last diff applied, or the snapshot's `lastUpdateId`.
    public var lastUpdateId: Int64 = 0
    /// ``BookChecksum`` of all levels of both sides.
    public private(set) var checksum: UInt64 = 0
    /// Decimals of the fixed-point prices and quantities.
    public let priceDecimals: Int
    public let quantityDecimals: Int
    /// Multipliers to the checksum's canonical decimals, computed once (a table lookup per
    /// level would cost a lazy-global check on every change).
    private let priceToCanonical: BookChecksum.Rescale
    private let quantityToCanonical: BookChecksum.Rescale

    /// An empty book at the given scales.
    public init(priceDecimals: Int, quantityDecimals: Int) {
        self.priceDecimals = priceDecimals
        self.quantityDecimals = quantityDecimals
        priceToCanonical = BookChecksum.Rescale(decimals: priceDecimals)
        quantityToCanonical = BookChecksum.Rescale(decimals: quantityDecimals)
    }

    /// A book holding a snapshot's levels.
    public init(lastUpdateId: Int64, bids: [BookLevel], asks: [BookLevel], priceDecimals: Int, quantityDecimals: Int) {
        self.init(priceDecimals: priceDecimals, quantityDecimals: quantityDecimals)
        self.lastUpdateId = lastUpdateId
        self.bids.replace(with: bids)
        self.asks.replace(with: asks)
        checksum = BookChecksum.of(bids: self.bids.levels, asks: self.asks.levels, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals)
    }

    /// Sets one level (absolute quantity; 0 removes it).
    @inline(__always)
    public mutating func set(isBid: Bool, price: Int64, quantity: Int64) {
        let old = isBid ? bids.set(price: price, quantity: quantity) : asks.set(price: price, quantity: quantity)
        guard old != quantity else { return }
        let canonicalPrice = priceToCanonical.apply(price)
        if old != 0 { checksum &-= BookChecksum.level(isBid: isBid, price: canonicalPrice, quantity: quantityToCanonical.apply(old)) }
        if quantity > 0 { checksum &+= BookChecksum.level(isBid: isBid, price: canonicalPrice, quantity: quantityToCanonical.apply(quantity)) }
    }

    /// Applies one diff event's levels, then records its final update id.
    public mutating func apply(bids newBids: UnsafeBufferPointer<BookLevel>, asks newAsks: UnsafeBufferPointer<BookLevel>, finalUpdateId: Int64) {
        for level in newBids { set(isBid: true, price: level.price, quantity: level.quantity) }
        for level in newAsks { set(isBid: false, price: level.price, quantity: level.quantity) }
        lastUpdateId = finalUpdateId
    }

    /// Applies one diff event's levels (array form).
    public mutating func apply(bids newBids: [BookLevel], asks newAsks: [BookLevel], finalUpdateId: Int64) {
        newBids.withUnsafeBufferPointer { bidBuffer in
            newAsks.withUnsafeBufferPointer { askBuffer in apply(bids: bidBuffer, asks: askBuffer, finalUpdateId: finalUpdateId) }
        }
    }
}

/// An order-independent checksum over a book's levels, updatable one level at a time: the
/// wrapping sum of a 64-bit mix of (side, price, quantity) over every level, with price and
/// quantity first brought to ``canonicalDecimals`` decimals so that books held at different
/// scales (the simulator's, the bridge's, a consumer's) agree. The simulator keeps the same sum
/// for its own book at every update id, so tests compare whole books by one number.
///
/// In Python (all arithmetic modulo 2⁶⁴, `mix` the splitmix64 finaliser below):
/// `level = mix(mix(int(price * 10**8) ^ salt) + int(qty * 10**8))`, `salt` per side; the
/// checksum is the sum over both sides (`examples/python/book_consumer.py`).
public enum BookChecksum {
    /// Decimals prices and quantities are brought to before mixing.
    public static let canonicalDecimals = 8
    static let bidSalt: UInt64 = 0x9E37_79B9_7F4A_7C15
    static let askSalt: UInt64 = 0xD1B5_4A32_D192_ED03

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Brings values at some decimals to ``canonicalDecimals`` (wrapping: only ever mixed).
    public struct Rescale: Sendable, Equatable {
        let multiplier: Int64
        let divisor: Int64

        public init(decimals: Int) {
            precondition((0...FixedPoint.maximumDecimals).contains(decimals))
            var multiplier: Int64 = 1
            var divisor: Int64 = 1
            for _ in 0..<max(0, canonicalDecimals - decimals) { multiplier *= 10 }
            for _ in 0..<max(0, decimals - canonicalDecimals) { divisor *= 10 }
            self.multiplier = multiplier
            self.divisor = divisor
        }

        @inline(__always)
        public func apply(_ value: Int64) -> Int64 { divisor == 1 ? value &* multiplier : value / divisor }
    }

    /// `value` at `decimals` decimals, at ``canonicalDecimals``.
    public static func canonical(_ value: Int64, decimals: Int) -> Int64 {
        Rescale(decimals: decimals).apply(value)
    }

    /// The contribution of one level whose price and quantity are at canonical decimals.
    @inline(__always)
    public static func level(isBid: Bool, price: Int64, quantity: Int64) -> UInt64 {
        mix(mix(UInt64(bitPattern: price) ^ (isBid ? bidSalt : askSalt)) &+ UInt64(bitPattern: quantity))
    }

    /// The contribution of one level at the given scales.
    @inline(__always)
    public static func level(isBid: Bool, price: Int64, quantity: Int64, priceDecimals: Int, quantityDecimals: Int) -> UInt64 {
        level(isBid: isBid, price: canonical(price, decimals: priceDecimals), quantity: canonical(quantity, decimals: quantityDecimals))
    }

    /// The checksum of whole sides at the given scales.
    public static func of<Bids: Sequence<BookLevel>, Asks: Sequence<BookLevel>>(bids: Bids, asks: Asks, priceDecimals: Int, quantityDecimals: Int) -> UInt64 {
        var sum: UInt64 = 0
        for level in bids { sum &+= Self.level(isBid: true, price: level.price, quantity: level.quantity, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals) }
        for level in asks { sum &+= Self.level(isBid: false, price: level.price, quantity: level.quantity, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals) }
        return sum
    }
}

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

/// One side of a book: a **tick ladder** for the prices near the top, and a sorted array for
/// the levels deeper than it.
///
/// Almost every change lands within a few hundred ticks of the best price. There, a level is
/// a slot of a flat array indexed by its distance from an anchor price in ticks: setting it
/// is one subtraction, one bounds check and one store — no search, no shifting. A binary
/// search costs one unpredictable branch (~15 cycles) per probe and an insert moves every
/// level above it; measured, the ladder applies a 20-level event about twice as fast.
///
/// The anchor sits ``headroom`` ticks better than the best price when the ladder is laid out,
/// so the top can improve that far before it is laid out again (O(levels), rare: the price
/// has to move by hundreds of ticks); it is also laid out again when the best drifts past
/// the middle of the ladder. Levels deeper than the ladder's ``ladderSlots`` ticks live in
/// `deep`, sorted with the best last (inserts and removals near the ladder's end move few
/// levels), searched by galloping from its best end.
///
/// The ladder needs the price grid: `tick` is the instrument's tick in fixed-point units.
/// Without one (`tick` 0: instrument unknown, the fallback scale) or at the first price off
/// the grid, the side keeps every level in `deep`.
public struct BookSide: Sendable {
    public let isBid: Bool
    /// Ladder step in fixed-point units; 0 when there is no ladder.
    public private(set) var tick: Int64
    /// ⌈2⁶⁴ / tick⌉, to divide by the tick with a multiplication (Lemire's fastdiv: exact for
    /// 32-bit dividends, which the ladder's distances are).
    private var reciprocal: UInt64
    /// Quantities by slot: slot `i` is the price `anchor ∓ i·tick` (bids descending, asks
    /// ascending); 0 is no level. Empty when there is no ladder.
    private var ladder: [Int64] = []
    /// The price of slot 0, as good as or better than every level of the side.
    private var anchor: Int64 = 0
    /// The first slot holding a level, or ``ladderSlots`` when the ladder holds none.
    private var bestSlot: Int
    /// Levels in the ladder.
    private var ladderCount = 0
    /// Levels worse than the ladder's last slot (all of them without a ladder), worst first,
    /// best last.
    private var deep: [BookLevel] = []

    /// Slots of the ladder.
    public static let ladderSlots = 1_024
    /// Ticks between the anchor and the best price when the ladder is laid out.
    public static let headroom = 128

    /// An empty side; `tick` > 0 is the price grid (fixed-point units) and enables the ladder.
    public init(isBid: Bool, tick: Int64 = 0) {
        self.isBid = isBid
        self.tick = tick > 0 && tick < 1 << 22 ? tick : 0  // the ladder's span must stay within 32 bits
        reciprocal = tick > 1 && tick < 1 << 22 ? UInt64.max / UInt64(tick) &+ 1 : 0
        bestSlot = Self.ladderSlots
        if self.tick > 0 { ladder = Array(repeating: 0, count: Self.ladderSlots) }
    }

    /// Number of levels.
    public var count: Int { ladderCount + deep.count }

    /// The best level (highest bid, lowest ask).
    public var best: BookLevel? {
        bestSlot < Self.ladderSlots ? BookLevel(price: price(ofSlot: bestSlot), quantity: ladder[bestSlot]) : deep.last
    }

    /// Every level, worst first, best last.
    public var levels: [BookLevel] {
        var result = deep
        result.reserveCapacity(count)
        if ladderCount > 0 {
            for slot in stride(from: Self.ladderSlots - 1, through: bestSlot, by: -1) where ladder[slot] > 0 {
                result.append(BookLevel(price: price(ofSlot: slot), quantity: ladder[slot]))
            }
        }
        return result
    }

    /// The levels best first (what a snapshot lists), at most `limit`.
    public func bestFirst(limit: Int = .max) -> [BookLevel] {
        var result: [BookLevel] = []
        result.reserveCapacity(min(limit, count))
        if ladderCount > 0 {
            for slot in bestSlot..<Self.ladderSlots where ladder[slot] > 0 {
                guard result.count < limit else { return result }
                result.append(BookLevel(price: price(ofSlot: slot), quantity: ladder[slot]))
            }
        }
        for level in deep.reversed() {
            guard result.count < limit else { break }
            result.append(level)
        }
        return result
    }

    @inline(__always)
    private func price(ofSlot slot: Int) -> Int64 {
        isBid ? anchor &- Int64(slot) &* tick : anchor &+ Int64(slot) &* tick
    }

    /// Where `price` goes.
    private enum Place {
        case slot(Int)
        case deep
        /// Better than the anchor: the ladder must be laid out again first.
        case aboveLadder
        /// Not on the tick grid: the side must give up its ladder first.
        case offGrid
    }

    @inline(__always)
    private func place(_ price: Int64) -> Place {
        guard tick > 0 else { return .deep }
        let distance = isBid ? anchor &- price : price &- anchor
        guard distance >= 0 else { return .aboveLadder }
        let span = Int64(Self.ladderSlots) &* tick
        guard distance < span else { return .deep }
        if tick == 1 { return .slot(Int(distance)) }
        let product = reciprocal &* UInt64(distance)
        // Lemire: divisible exactly when the low half of reciprocal·distance is below the
        // reciprocal; the high half is the quotient.
        guard product < reciprocal else { return .offGrid }
        return .slot(Int(reciprocal.multipliedFullWidth(by: UInt64(distance)).high))
    }

    /// Sets the level at `price` to `quantity` (absolute; 0 removes it; removing a level that
    /// is not there is normal on Binance). Returns the quantity it had (0 if none).
    @inline(__always)
    @discardableResult
    public mutating func set(price: Int64, quantity: Int64) -> Int64 {
        switch place(price) {
        case .slot(let slot):
            let old = ladder[slot]
            ladder[slot] = quantity
            if old == 0 {
                if quantity > 0 {
                    ladderCount &+= 1
                    if slot < bestSlot { bestSlot = slot }
                    // The first level of an emptied side, far down a stale ladder: centre it.
                    if ladderCount == 1, slot >= Self.ladderSlots / 2 { layOut() }
                }
            } else if quantity == 0 {
                ladderCount &-= 1
                if slot == bestSlot { bestRemoved() }
            }
            return old
        case .deep:
            let old = setDeep(price: price, quantity: quantity)
            if ladderCount == 0, tick > 0, old == 0, quantity > 0 { layOut() }  // the top is in `deep`: bring it into a ladder
            return old
        case .aboveLadder:
            guard quantity > 0 else { return 0 }  // nothing is better than the anchor
            layOut(best: price)
            if case .slot = place(price) { return set(price: price, quantity: quantity) }
            dropLadder()  // a price at the edge of Int64, where the anchor's arithmetic wraps
            return setDeep(price: price, quantity: quantity)
        case .offGrid:
            guard quantity > 0 else { return 0 }  // no level off the grid exists while the ladder is on
            dropLadder()
            return setDeep(price: price, quantity: quantity)
        }
    }

    /// The best slot was emptied: finds the next, and lays the ladder out again when the top
    /// has drifted past the middle while deeper levels wait in `deep` (or left the ladder).
    /// With `deep` empty every level is in the ladder already: no layout, so a lone order far
    /// above the book that comes and goes costs one layout per arrival, not two.
    private mutating func bestRemoved() {
        var slot = bestSlot &+ 1
        while slot < Self.ladderSlots, ladder[slot] == 0 { slot &+= 1 }
        bestSlot = slot
        if slot >= Self.ladderSlots / 2, !deep.isEmpty { layOut() }
    }

    /// Lays the ladder out again with its anchor ``headroom`` ticks better than `best` (by
    /// default the side's best level): every level moves to its new slot or to `deep`.
    private mutating func layOut(best: Int64? = nil) {
        guard let top = best ?? self.best?.price else { return }
        let all = levels
        let offset = Int64(Self.headroom) &* tick
        anchor = isBid ? top &+ offset : top &- offset
        for slot in 0..<Self.ladderSlots { ladder[slot] = 0 }
        ladderCount = 0
        bestSlot = Self.ladderSlots
        deep.removeAll(keepingCapacity: true)
        for level in all {  // worst first: deep levels come first and stay in order
            switch place(level.price) {
            case .slot(let slot):
                ladder[slot] = level.quantity
                ladderCount &+= 1
                if slot < bestSlot { bestSlot = slot }
            case .deep:
                deep.append(level)
            case .aboveLadder, .offGrid:
                // Cannot happen for prices on the grid below `top`; keep everything exact.
                dropLadder(all)
                return
            }
        }
    }

    /// Gives up the ladder (a price off the grid): every level goes to `deep`.
    private mutating func dropLadder(_ all: [BookLevel]? = nil) {
        deep = all ?? levels
        tick = 0
        reciprocal = 0
        ladder = []
        ladderCount = 0
        bestSlot = Self.ladderSlots
    }

    /// The quantity at `price` (0 if no level).
    public func quantity(at price: Int64) -> Int64 {
        switch place(price) {
        case .slot(let slot): return ladder[slot]
        case .deep, .offGrid:
            let index = deepLowerBound(price)
            return index < deep.count && deep[index].price == price ? deep[index].quantity : 0
        case .aboveLadder: return 0
        }
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
        if tick > 0 { for slot in 0..<Self.ladderSlots { ladder[slot] = 0 } }
        ladderCount = 0
        bestSlot = Self.ladderSlots
        deep = unique
        if tick > 0, !unique.isEmpty { layOut() }
    }

    // MARK: Deep levels (sorted, best last)

    /// Index in `deep` of the first level not worse than `price` (where `price` is or would
    /// go), galloping from the best end: deep changes are mostly just past the ladder.
    @inline(__always)
    private func deepLowerBound(_ price: Int64) -> Int {
        isBid ? Self.lowerBound(deep, price) { $0 < $1 } : Self.lowerBound(deep, price) { $0 > $1 }
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

    private mutating func setDeep(price: Int64, quantity: Int64) -> Int64 {
        let index = deepLowerBound(price)
        let old = deep.withUnsafeMutableBufferPointer { buffer -> Int64 in
            guard index < buffer.count, buffer[index].price == price else { return 0 }
            let old = buffer[index].quantity
            if quantity > 0 { buffer[index].quantity = quantity }
            return old
        }
        if old != 0 {
            if quantity == 0 { deep.remove(at: index) }
        } else if quantity > 0 {
            deep.insert(BookLevel(price: price, quantity: quantity), at: index)
        }
        return old
    }
}

extension BookSide: Equatable {
    /// The same side with the same levels (however they are held).
    public static func == (lhs: BookSide, rhs: BookSide) -> Bool {
        lhs.isBid == rhs.isBid && lhs.count == rhs.count && lhs.levels == rhs.levels
    }
}

/// An order book of fixed-point levels: two ``BookSide``s, the id of the last update applied,
/// and a checksum over every level kept up to date as levels change (``BookChecksum``).
public struct OrderBook: Sendable, Equatable {
    public private(set) var bids: BookSide
    public private(set) var asks: BookSide
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

    /// An empty book at the given scales; `priceTick` (the instrument's tick in fixed-point
    /// units, 0 when unknown) lets each side keep the levels near its top in a tick ladder.
    public init(priceDecimals: Int, quantityDecimals: Int, priceTick: Int64 = 0) {
        bids = BookSide(isBid: true, tick: priceTick)
        asks = BookSide(isBid: false, tick: priceTick)
        self.priceDecimals = priceDecimals
        self.quantityDecimals = quantityDecimals
        priceToCanonical = BookChecksum.Rescale(decimals: priceDecimals)
        quantityToCanonical = BookChecksum.Rescale(decimals: quantityDecimals)
    }

    /// A book holding a snapshot's levels.
    public init(lastUpdateId: Int64, bids: [BookLevel], asks: [BookLevel], priceDecimals: Int, quantityDecimals: Int, priceTick: Int64 = 0) {
        self.init(priceDecimals: priceDecimals, quantityDecimals: quantityDecimals, priceTick: priceTick)
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

import Testing
@testable import BridgeCore

@Suite("Fixed-point decimals")
struct FixedPointTests {
    static func parse(_ text: String, _ decimals: Int) -> (value: Int64, written: Int)? {
        var text = text
        return text.withUTF8 { FixedPoint.parse(UnsafeRawBufferPointer($0), 0..<$0.count, decimals: decimals) }
    }

    @Test func parsesAtTheScale() throws {
        #expect(Self.parse("67000.10", 2)! == (6_700_010, 2))
        #expect(Self.parse("67000.10", 4)! == (670_001_000, 2))
        #expect(Self.parse("67000.1", 2)! == (6_700_010, 1))
        #expect(Self.parse("5", 3)! == (5_000, 0))
        #expect(Self.parse("0.000", 3)! == (0, 3))
        // Trailing zeros beyond the scale are the same number.
        #expect(Self.parse("1.2300", 2)! == (123, 4))
    }

    @Test func rejectsWhatItCannotHoldExactly() {
        #expect(Self.parse("1.234", 2) == nil, "a third significant decimal would be rounded")
        #expect(Self.parse("-1.0", 2) == nil)
        #expect(Self.parse("1e5", 2) == nil)
        #expect(Self.parse("", 2) == nil)
        #expect(Self.parse(".5", 2) == nil)
        #expect(Self.parse("1.", 2) == nil)
        #expect(Self.parse("99999999999.0", 8) == nil, "10¹¹ × 10⁸ does not fit an Int64")
        #expect(Self.parse("92233720368.54775807", 8)! == (Int64.max, 8))
    }

    @Test func writesWithTheDecimalsAsked() {
        #expect(FixedPoint.text(6_700_010, scale: 2, decimals: 2) == "67000.10")
        #expect(FixedPoint.text(670_001_000, scale: 4, decimals: 2) == "67000.10")
        #expect(FixedPoint.text(5, scale: 2, decimals: 2) == "0.05")
        #expect(FixedPoint.text(0, scale: 3, decimals: 3) == "0.000")
        #expect(FixedPoint.text(42, scale: 0, decimals: 0) == "42")
        #expect(FixedPoint.text(Int64.max, scale: 8, decimals: 8) == "92233720368.54775807")
    }

    @Test func roundTripsRandomValues() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let decimals = Int.random(in: 0...8, using: &random)
            let value = Int64.random(in: 0...999_999_999_999, using: &random)
            let text = FixedPoint.text(value, scale: decimals, decimals: decimals)
            #expect(Self.parse(text, decimals)?.value == value, "\(text)")
        }
    }
}

@Suite("Order book")
struct OrderBookTests {
    /// The book against a dictionary model under random changes near the top (as real
    /// books change) and far from it, while the mid price drifts and sometimes jumps (the
    /// ladder is laid out again when the top moves past its headroom or its middle, and
    /// sides empty and refill); the incremental checksum against a recomputed one. With no
    /// tick (no ladder: every level sorted), a one-unit tick, and a tick of 5 units.
    @Test(arguments: [Int64(0), 1, 5])
    func matchesAReferenceModel(tick: Int64) {
        var book = OrderBook(priceDecimals: 1, quantityDecimals: 3, priceTick: tick)
        var bids: [Int64: Int64] = [:]
        var asks: [Int64: Int64] = [:]
        var random = LCG(seed: 0xB00C &+ UInt64(tick))  // reproducible
        let step = max(tick, 1)
        var mid: Int64 = 1_000_000
        func check(_ at: Int) {
            let expectedBids = bids.sorted { $0.key > $1.key }.map { BookLevel(price: $0.key, quantity: $0.value) }
            let expectedAsks = asks.sorted { $0.key < $1.key }.map { BookLevel(price: $0.key, quantity: $0.value) }
            #expect(book.bids.bestFirst() == expectedBids, "bids at step \(at), tick \(tick)")
            #expect(book.asks.bestFirst() == expectedAsks, "asks at step \(at), tick \(tick)")
            #expect(book.bids.levels == expectedBids.reversed() && book.asks.levels == expectedAsks.reversed())
            #expect(book.bids.best == expectedBids.first && book.asks.best == expectedAsks.first)
            #expect(book.bids.count == expectedBids.count && book.asks.count == expectedAsks.count)
            #expect(book.bids.bestFirst(limit: 5) == Array(expectedBids.prefix(5)))
            #expect(book.checksum == BookChecksum.of(bids: expectedBids, asks: expectedAsks, priceDecimals: 1, quantityDecimals: 3))
        }
        for index in 0..<40_000 {
            switch index % 5_000 {
            case 4_999: mid += Int64.random(in: -3_000...3_000, using: &random) * step  // a jump
            case 2_500: // a side emptied, then refilled from the changes that follow
                for price in bids.keys { book.set(isBid: true, price: price, quantity: 0) }
                bids = [:]
            default: if index % 50 == 0 { mid += Int64.random(in: -3...3, using: &random) * step }
            }
            let isBid = Bool.random(using: &random)
            let distance = Int64.random(in: 0..<(index % 7 == 0 ? 3_000 : 60), using: &random)
            let price = isBid ? mid - distance * step : mid + step + distance * step
            let quantity = Int64.random(in: 0...3, using: &random) == 0 ? 0 : Int64.random(in: 1...5_000, using: &random)
            let before = (isBid ? bids[price] : asks[price]) ?? 0
            #expect(isBid ? book.bids.quantity(at: price) == before : book.asks.quantity(at: price) == before, "quantity(at:) before the change")
            book.set(isBid: isBid, price: price, quantity: quantity)
            #expect(isBid ? book.bids.quantity(at: price) == quantity : book.asks.quantity(at: price) == quantity, "quantity(at:) after the change")
            if isBid { bids[price] = quantity == 0 ? nil : quantity } else { asks[price] = quantity == 0 ? nil : quantity }
            if index % 4_000 == 3_999 { check(index) }
        }
        check(40_000)
        let rebuilt = OrderBook(
            lastUpdateId: 1, bids: bids.map { BookLevel(price: $0.key, quantity: $0.value) }, asks: asks.map { BookLevel(price: $0.key, quantity: $0.value) },
            priceDecimals: 1, quantityDecimals: 3, priceTick: tick
        )
        #expect(rebuilt.checksum == book.checksum)
        #expect(rebuilt.bids == book.bids && rebuilt.asks == book.asks)
    }

    /// `set` returns the quantity the level had, on the ladder and deep.
    @Test func setReturnsTheOldQuantity() {
        var side = BookSide(isBid: true, tick: 10)
        #expect(side.set(price: 10_000, quantity: 5) == 0)
        #expect(side.set(price: 10_000, quantity: 7) == 5)
        #expect(side.set(price: 10_000 - 10 * 5_000, quantity: 3) == 0)  // deep
        #expect(side.set(price: 10_000 - 10 * 5_000, quantity: 0) == 3)
        #expect(side.set(price: 10_000, quantity: 0) == 7)
        #expect(side.count == 0 && side.best == nil)
    }

    /// A price off the tick grid (an instrument whose tick changed, a wrong tick) costs the
    /// side its ladder, never a level; deleting one (it cannot exist) costs nothing.
    @Test func aPriceOffTheGridKeepsEveryLevel() {
        var side = BookSide(isBid: false, tick: 10)
        side.replace(with: [BookLevel(price: 1_000, quantity: 1), BookLevel(price: 1_010, quantity: 2), BookLevel(price: 900_000, quantity: 3)])
        #expect(side.tick == 10)
        #expect(side.set(price: 1_005, quantity: 0) == 0 && side.tick == 10 && side.quantity(at: 1_005) == 0)
        side.set(price: 1_005, quantity: 4)
        #expect(side.tick == 0, "the ladder is given up")
        #expect(side.bestFirst() == [BookLevel(price: 1_000, quantity: 1), BookLevel(price: 1_005, quantity: 4), BookLevel(price: 1_010, quantity: 2), BookLevel(price: 900_000, quantity: 3)])
        side.set(price: 1_000, quantity: 0)
        #expect(side.best == BookLevel(price: 1_005, quantity: 4))
    }

    /// The tick of an instrument, in units of its price decimals.
    @Test func instrumentPrecisionReadsTheTick() {
        #expect(InstrumentPrecision(tickSize: "0.10", stepSize: "0.001") == InstrumentPrecision(priceDecimals: 1, quantityDecimals: 3, priceTick: 1))
        #expect(InstrumentPrecision(tickSize: "0.5", stepSize: "1") == InstrumentPrecision(priceDecimals: 1, quantityDecimals: 0, priceTick: 5))
        #expect(InstrumentPrecision(tickSize: "0.00005", stepSize: "1").priceTick == 5)
        #expect(InstrumentPrecision(tickSize: "0.00005", stepSize: "1").priceDecimals == 5)
    }

    @Test func removingAMissingLevelIsNormalAndQuantitiesAreAbsolute() {
        var book = OrderBook(priceDecimals: 0, quantityDecimals: 0)
        book.set(isBid: true, price: 100, quantity: 5)
        book.set(isBid: true, price: 99, quantity: 0)
        book.set(isBid: true, price: 100, quantity: 7)
        #expect(Array(book.bids.bestFirst()) == [BookLevel(price: 100, quantity: 7)])
        book.set(isBid: true, price: 100, quantity: 0)
        #expect(book.bids.count == 0)
        #expect(book.checksum == 0)
    }

    @Test func checksumIsTheSameAtAnyScale() {
        let coarse = OrderBook(lastUpdateId: 1, bids: [BookLevel(price: 6_700_010, quantity: 1_500)], asks: [], priceDecimals: 2, quantityDecimals: 3)
        let fine = OrderBook(lastUpdateId: 1, bids: [BookLevel(price: 67_000_100_000_000, quantity: 150_000_000)], asks: [], priceDecimals: 9, quantityDecimals: 8)
        #expect(coarse.checksum == fine.checksum)
        let otherSide = OrderBook(lastUpdateId: 1, bids: [], asks: [BookLevel(price: 6_700_010, quantity: 1_500)], priceDecimals: 2, quantityDecimals: 3)
        #expect(otherSide.checksum != coarse.checksum)
    }
}

@Suite("Depth messages")
struct DepthMessageTests {
    static func diff(_ text: String, _ scale: BookScale = BookScale(price: 2, quantity: 3, isInstrumentPrecision: true)) throws -> DepthDiff {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try DepthDiff.parse(frame: $0, scale: scale) }
    }

    @Test func readsADiffInBothFramings() throws {
        let payload = #"{"e":"depthUpdate","E":1700000000123,"T":1700000000120,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["67000.10","1.500"],["66999.90","0"]],"a":[["67000.20","0.002"]]}"#
        for frame in [payload, #"{"stream":"btcusdt@depth@100ms","data":"# + payload + "}"] {
            let diff = try Self.diff(frame)
            #expect(diff.firstUpdateId == 157 && diff.finalUpdateId == 160 && diff.previousFinalUpdateId == 149)
            #expect(diff.eventTimeMilliseconds == 1_700_000_000_123 && diff.transactionTimeMilliseconds == 1_700_000_000_120)
            #expect(diff.bids == [BookLevel(price: 6_700_010, quantity: 1_500), BookLevel(price: 6_699_990, quantity: 0)])
            #expect(diff.asks == [BookLevel(price: 6_700_020, quantity: 2)])
            #expect(diff.written == { var w = WrittenDecimals(); w.price = 2; w.quantity = 3; return w }())
        }
    }

    @Test func rejectsWhatABookCannotUse() {
        #expect(throws: DepthMessageError.self) { try Self.diff(#"{"U":1,"u":2,"b":[],"a":[]}"#) }  // no pu
        #expect(throws: DepthMessageError.self) { try Self.diff(#"{"U":3,"u":2,"pu":1,"b":[],"a":[]}"#) }  // U after u
        #expect(throws: DepthMessageError.self) { try Self.diff(#"{"U":1,"u":2,"pu":1,"b":[["1.001","1"]],"a":[]}"#) }  // 3 price decimals at scale 2
        #expect(throws: DepthMessageError.self) { try Self.diff(#"{"U":1,"u":2,"pu":1,"b":[[1.0,"1"]],"a":[]}"#) }  // number, not string
        #expect(throws: DepthMessageError.self) { try Self.diff(#"{"U":1,"u":2,"pu":1,"b":[["1.0","1"]],"a":[["2.0","1"]"#) }  // truncated
    }

    @Test func readsARESTSnapshot() throws {
        let body = Array(#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#.utf8)
        let snapshot = try body.withUnsafeBytes { try DepthSnapshot.parse($0, scale: .fallback) }
        #expect(snapshot.lastUpdateId == 1_027_024)
        #expect(snapshot.eventTimeMilliseconds == 1_589_436_922_972)
        #expect(snapshot.bids == [BookLevel(price: 400_000_000, quantity: 43_100_000_000)])
        #expect(snapshot.asks == [BookLevel(price: 400_000_200, quantity: 1_200_000_000)])
        let missing = Array(#"{"bids":[],"asks":[]}"#.utf8)
        #expect(throws: DepthMessageError.self) { try missing.withUnsafeBytes { _ = try DepthSnapshot.parse($0, scale: .fallback) } }
    }
}

@Suite("Order book sync (Binance's procedure)")
struct OrderBookSyncTests {
    typealias Sync = OrderBookSync<Int64>
    static func ids(_ first: Int64, _ final: Int64, _ previous: Int64) -> DepthUpdateIds { DepthUpdateIds(first: first, final: final, previousFinal: previous) }

    @Test func firstEventAsksForTheSnapshotAndStaleEventsAreNotApplied() {
        var sync = Sync(bufferLimit: 100)
        guard case .requestSnapshot = sync.diff(Self.ids(100, 110, 99), 110) else { Issue.record("first event"); return }
        guard case .held = sync.diff(Self.ids(111, 120, 110), 120) else { Issue.record("second event"); return }
        guard case .held = sync.diff(Self.ids(121, 130, 120), 130) else { Issue.record("third event"); return }
        // Snapshot at 115: the event 100…110 is stale, 111…120 covers it, 121…130 follows.
        guard case .synced(let stale, let first, let rest) = sync.snapshot(lastUpdateId: 115) else { Issue.record("snapshot"); return }
        #expect(stale == [110])
        #expect(first == 120)
        #expect(rest.map(\.1) == [130])
        #expect(sync.phase == .synced(lastFinal: 120))
        // The caller passes `rest` through diff(): it chains.
        guard case .apply = sync.diff(rest[0].0, rest[0].1) else { Issue.record("rest"); return }
        guard case .apply = sync.diff(Self.ids(131, 140, 130), 140) else { Issue.record("next"); return }
    }

    @Test func aSnapshotAtAnEventBoundaryIsCoveredByThatEvent() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        _ = sync.diff(Self.ids(111, 120, 110), 120)
        guard case .synced(let stale, let first, _) = sync.snapshot(lastUpdateId: 110) else { Issue.record("snapshot"); return }
        #expect(stale.isEmpty && first == 110)
    }

    @Test func aSnapshotOlderThanEveryHeldEventIsAskedForAgain() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        guard case .tooOld = sync.snapshot(lastUpdateId: 90) else { Issue.record("snapshot"); return }
        #expect(sync.held.count == 1)
        guard case .synced(_, let first, _) = sync.snapshot(lastUpdateId: 105) else { Issue.record("second snapshot"); return }
        #expect(first == 110)
    }

    @Test func aSnapshotNewerThanEveryHeldEventWaitsForTheEventThatCoversIt() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        guard case .holding = sync.snapshot(lastUpdateId: 125) else { Issue.record("snapshot"); return }
        guard case .held = sync.diff(Self.ids(111, 120, 110), 120) else { Issue.record("stale event"); return }
        guard case .synced(let stale) = sync.diff(Self.ids(121, 130, 120), 130) else { Issue.record("covering event"); return }
        #expect(stale == [110, 120])
        #expect(sync.phase == .synced(lastFinal: 130))
    }

    @Test func aHeldSnapshotSkippedOverIsTooOld() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        guard case .holding = sync.snapshot(lastUpdateId: 115) else { Issue.record("snapshot"); return }
        // Events 111…120 were lost: the next one starts after the snapshot.
        guard case .snapshotTooOld = sync.diff(Self.ids(121, 130, 120), 130) else { Issue.record("event"); return }
        #expect(sync.phase == .awaitingSnapshot(requested: true))
    }

    @Test func aBrokenChainIsAGapWithBothIdsAndTheEventIsHeld() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        _ = sync.snapshot(lastUpdateId: 105)
        guard case .sequenceGap(let expected, let got) = sync.diff(Self.ids(131, 140, 130), 140) else { Issue.record("gap"); return }
        #expect(expected == 110 && got == 130)
        #expect(sync.held.map(\.pending) == [140])
        #expect(sync.phase == .awaitingSnapshot(requested: true))
    }

    @Test func theBufferIsBoundedDroppingTheOldest() {
        var sync = Sync(bufferLimit: 3)
        for n in Int64(0)..<3 { _ = sync.diff(Self.ids(n * 10 + 1, n * 10 + 10, n * 10), n) }
        guard case .overflow(let dropped) = sync.diff(Self.ids(31, 40, 30), 3) else { Issue.record("overflow"); return }
        #expect(dropped == [0])
        #expect(sync.held.map(\.pending) == [1, 2, 3])
    }

    @Test func anInterruptionStartsASyncAgainAtTheNextEvent() {
        var sync = Sync(bufferLimit: 100)
        _ = sync.diff(Self.ids(100, 110, 99), 110)
        _ = sync.snapshot(lastUpdateId: 105)
        sync.interrupted()
        guard case .requestSnapshot = sync.diff(Self.ids(200, 210, 199), 210) else { Issue.record("after interruption"); return }
        #expect(sync.drain() == [210])
    }
}

@Suite("REST weight budget")
struct RESTWeightBudgetTests {
    @Test func weightsFollowBinancesTable() {
        #expect([5, 10, 20, 50, 100, 500, 1_000].map(RESTWeightBudget.depthWeight(limit:)) == [2, 2, 2, 2, 5, 10, 20])
    }

    @Test func spendsTheBudgetThenWaitsForTheNextClockMinute() {
        var budget = RESTWeightBudget(limitPerMinute: 100)
        let minute: Int64 = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
        for _ in 0..<5 { #expect(budget.reserve(20, now: minute + 10) == .send) }
        #expect(budget.reserve(20, now: minute + 20) == .wait(until: minute + 60_000))
        #expect(budget.reserve(20, now: minute + 59_999) == .wait(until: minute + 60_000))
        #expect(budget.reserve(20, now: minute + 60_000) == .send)
    }

    @Test func binancesCountAndItsPausesWin() {
        var budget = RESTWeightBudget(limitPerMinute: 100)
        let minute: Int64 = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
        budget.reported(used: 95, now: minute + 1)
        #expect(budget.reserve(20, now: minute + 2) == .wait(until: minute + 60_000))
        budget.pause(seconds: 120, now: minute + 60_001)
        #expect(budget.reserve(2, now: minute + 60_002) == .wait(until: minute + 180_001))
        #expect(budget.reserve(2, now: minute + 180_001) == .send)
    }
}

extension LCG: RandomNumberGenerator {
    mutating func next() -> UInt64 { UInt64(next(1 << 30)) << 34 ^ UInt64(next(1 << 30)) << 4 ^ UInt64(next(16)) }
}

import BenchTolerances
import Benchmark
import BridgeCore

/// Applying diff events to a deep fixed-point book (issue target: ≤ 1 µs for 20 changed
/// levels), and reading a diff frame into fixed point first (what the bridge does per event).
///
/// The book starts with 1,000 levels per side (BTCUSDT-like: tick 0.10, 2 price decimals,
/// 3 quantity decimals). Events are pre-generated: 10 bid and 10 ask changes each, within
/// 60 ticks of the mid — where real diffs land — a third of them deletions, so the book keeps
/// its depth as the 4,096 events are applied round and round.
let benchmarks: @Sendable () -> Void = {
    let mid: Int64 = 6_700_000  // 67000.00 at 2 decimals
    let tick: Int64 = 10
    var generator = SplitMix(seed: 42)
    var bids: [BookLevel] = []
    var asks: [BookLevel] = []
    for level in 1...1_000 {
        bids.append(BookLevel(price: mid - Int64(level) * tick, quantity: Int64(generator.next() % 5_000 + 1)))
        asks.append(BookLevel(price: mid + Int64(level) * tick, quantity: Int64(generator.next() % 5_000 + 1)))
    }
    func change(isBid: Bool) -> BookLevel {
        let distance = Int64(generator.next() % 60) + 1
        let price = isBid ? mid - distance * tick : mid + distance * tick
        let quantity: Int64 = generator.next() % 3 == 0 ? 0 : Int64(generator.next() % 5_000 + 1)
        return BookLevel(price: price, quantity: quantity)
    }
    let events: [(bids: [BookLevel], asks: [BookLevel])] = (0..<4_096).map { _ in
        ((0..<10).map { _ in change(isBid: true) }, (0..<10).map { _ in change(isBid: false) })
    }
    let start = OrderBook(lastUpdateId: 1, bids: bids, asks: asks, priceDecimals: 2, quantityDecimals: 3, priceTick: tick)

    Benchmark(
        "book apply (20 levels, 1000+1000-level book)",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), thresholds: regressionTolerances)
    ) { benchmark in
        var book = start
        var index = 0
        for _ in benchmark.scaledIterations {
            let event = events[index & 4_095]
            event.bids.withUnsafeBufferPointer { bidBuffer in
                event.asks.withUnsafeBufferPointer { askBuffer in
                    book.apply(bids: bidBuffer, asks: askBuffer, finalUpdateId: Int64(index))
                }
            }
            index &+= 1
        }
        blackHole(book.checksum)
    }

    // The same events as frames: read into fixed point, then applied.
    func text(_ value: Int64, _ decimals: Int) -> String { FixedPoint.text(value, scale: decimals, decimals: decimals) }
    let frames: [[UInt8]] = events.prefix(1_024).enumerated().map { index, event in
        let b = event.bids.map { #"["\#(text($0.price, 2))","\#(text($0.quantity, 3))"]"# }.joined(separator: ",")
        let a = event.asks.map { #"["\#(text($0.price, 2))","\#(text($0.quantity, 3))"]"# }.joined(separator: ",")
        return Array(#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000100,"T":1700000000099,"s":"BTCUSDT","U":\#(index * 20 + 1),"u":\#(index * 20 + 20),"pu":\#(index * 20),"b":[\#(b)],"a":[\#(a)]}}"#.utf8)
    }
    let scale = BookScale(price: 2, quantity: 3, isInstrumentPrecision: true)
    Benchmark(
        "book parse + apply (20 levels, 1000+1000-level book)",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), thresholds: regressionTolerances)
    ) { benchmark in
        var book = start
        var index = 0
        for _ in benchmark.scaledIterations {
            frames[index & 1_023].withUnsafeBytes { frame in
                if let diff = try? DepthDiff.parse(frame: frame, scale: scale) {
                    book.apply(bids: diff.bids, asks: diff.asks, finalUpdateId: diff.finalUpdateId)
                }
            }
            index &+= 1
        }
        blackHole(book.checksum)
    }
}

/// A small deterministic generator (the benchmark's events are the same on every run).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

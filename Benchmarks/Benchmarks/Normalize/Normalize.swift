import BenchTolerances
import Benchmark
import BridgeCore

/// Decode + normalize one Binance frame (combined framing, as the pool delivers it) into its
/// contract entry, per stream type, with the symbol in the instrument cache (so decimals are
/// re-formatted, the slower path). Issue target: ≤ 1.5 µs and ≤ 2 heap allocations each.
/// The output array is reused across iterations, as the bridge reuses it per batch.
let benchmarks: @Sendable () -> Void = {
    let instruments = InstrumentPrecisions([.usdm: ["BTCUSDT": InstrumentPrecision(priceDecimals: 1, quantityDecimals: 3)]])
    let normalizer = MarketDataNormalizer(instruments: instruments)
    let levels = (0..<20).map { #"["\#(25000 + $0).10","\#($0).500"]"# }.joined(separator: ",")
    let frames: [(String, String)] = [
        ("btcusdt@aggTrade", #"{"e":"aggTrade","E":1700000000100,"s":"BTCUSDT","a":5933014,"p":"25000.10","q":"0.100","f":100,"l":105,"T":1700000000099,"m":true}"#),
        ("btcusdt@bookTicker", #"{"e":"bookTicker","u":400900217,"E":1700000000100,"T":1700000000099,"s":"BTCUSDT","b":"25000.10","B":"31.210","a":"25000.20","A":"40.660"}"#),
        ("btcusdt@depth@100ms", #"{"e":"depthUpdate","E":1700000000100,"T":1700000000099,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[\#(levels)],"a":[\#(levels)]}"#),
        ("btcusdt@markPrice@1s", #"{"e":"markPriceUpdate","E":1700000000100,"s":"BTCUSDT","p":"25000.15000000","i":"25000.62659091","P":"25000.25641265","r":"0.00038167","T":1700006400000}"#),
    ]
    for (stream, payload) in frames {
        let name = try! BinanceStreamName(stream, market: .usdm)
        let frame = Array(#"{"stream":"\#(stream)","data":\#(payload)}"#.utf8)
        let label = stream.split(separator: "@").dropFirst().joined(separator: "@")
        Benchmark(
            "normalize \(label)\(label == "depth@100ms" ? " (20+20 levels)" : "")",
            configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), thresholds: regressionTolerances)
        ) { benchmark in
            var entries: [StreamEntry] = []
            for _ in benchmark.scaledIterations {
                entries.removeAll(keepingCapacity: true)
                frame.withUnsafeBytes { bytes in
                    try? normalizer.normalize(frame: bytes, stream: name, receiveTimeMicroseconds: 1_700_000_000_123_456, into: &entries)
                }
                blackHole(entries.count)
            }
        }
    }
}

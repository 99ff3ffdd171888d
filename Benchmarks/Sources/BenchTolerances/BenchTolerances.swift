import Benchmark

/// What `check-thresholds.sh` lets a build differ from the stored thresholds by before it
/// fails. Allocation counts are deterministic: one more allocation per message is a
/// regression. Wall clock and throughput drift by up to ≈ 16 % between days on the 2-core VM
/// (README: the same binary's depth p50 at 1.42 µs one day, 1.65 µs the next), so 35 % at the
/// median: wide enough not to fail on that drift, narrow enough to catch a lost optimisation
/// (the tick ladder, the single instrument lookup, etc. were each 10–70 %).
/// (Computed: the benchmark package's types are not `Sendable`, so no global constant.)
public var regressionTolerances: [BenchmarkMetric: BenchmarkThresholds] {
    [
        .mallocCountTotal: .init(absolute: [.p50: 0, .p90: 0]),
        .wallClock: .init(relative: [.p50: 35]),
        .throughput: .init(relative: [.p50: 35]),
    ]
}

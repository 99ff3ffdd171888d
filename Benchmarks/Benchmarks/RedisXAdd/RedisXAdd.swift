import BenchSupport
import BenchTolerances
import Benchmark
import RedisClient

#if canImport(Glibc)
import Glibc
#endif

/// Pipelined XADD through RedisClient against a real Redis (`BRIDGE_BENCH_REDIS_URL`, default
/// redis://127.0.0.1:6379/0), plus the pure RESP encoding cost. One iteration = one batch of
/// `depth` entries: divide mallocs and instructions by `depth` for per-command figures;
/// throughput × depth is entries per second.
let benchmarks: @Sendable () -> Void = {
    let depth = 64
    let url = (getenv("BRIDGE_BENCH_REDIS_URL").map { String(cString: $0) }) ?? "redis://127.0.0.1:6379/0"

    Benchmark(
        "XADD encode aggTrade ×64",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput], maxDuration: .seconds(3), thresholds: regressionTolerances)
    ) { benchmark in
        var batch = RedisCommandBatch(reservingCapacity: depth * 400)
        for _ in benchmark.scaledIterations {
            batch.removeAll()
            AggTradeEntry.append(count: depth, key: "bench:xadd:encode", to: &batch)
            blackHole(batch.byteCount)
        }
    }

    Benchmark(
        "XADD pipeline aggTrade ×64 (1 connection)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .instructions, .throughput],
            maxDuration: .seconds(5),
            maxIterations: 20_000,
            thresholds: regressionTolerances
        )
    ) { benchmark in
        let connection = RedisConnection(configuration: RedisConnectionConfiguration(url: try RedisURL(parsing: url)))
        let key = "bench:xadd:ordo"
        try await connection.connect()
        var batch = RedisCommandBatch(reservingCapacity: depth * 400)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            batch.removeAll()
            AggTradeEntry.append(count: depth, key: key, to: &batch)
            let summary = try await connection.execute(batch)
            precondition(summary.failures.isEmpty, "XADD failed: \(summary.failures)")
        }
        benchmark.stopMeasurement()
        try await connection.send("DEL", key)
        await connection.close()
    }
}

import BenchSupport
import RedisClient

// Measures pipelined XADD throughput of RedisClient on one connection, the way
// `redis-benchmark -c 1 -P <depth>` does: send `depth` commands, wait for all replies, repeat.
// Usage: xadd-throughput <redis-url> <depth> <count> [key]   → prints one JSON line.
// `xadd-throughput --redis-benchmark-args <key>` prints the same command for redis-benchmark.

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--redis-benchmark-args" {
    print(AggTradeEntry.redisBenchmarkArguments(key: arguments.dropFirst().first ?? "bench:xadd").joined(separator: " "))
    exit(0)
}
if arguments.first == "--encode-only" {
    // Encoding cost alone, for profiling: N batches of 64 commands.
    let batches = Int(arguments.dropFirst().first ?? "") ?? 20_000
    var batch = RedisCommandBatch(reservingCapacity: 64 * 400)
    var total = 0
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<batches {
        batch.removeAll()
        AggTradeEntry.append(count: 64, key: "bench:xadd:encode", to: &batch)
        total &+= batch.bytes.count
    }
    let elapsed = start.duration(to: clock.now)
    print("encoded \(batches * 64) commands (\(total) bytes) in \(elapsed); per command: \(elapsed / (batches * 64))")
    exit(0)
}
guard arguments.count >= 3, let depth = Int(arguments[arguments.startIndex + 1]), let count = Int(arguments[arguments.startIndex + 2]),
      depth > 0, count > 0
else {
    print("usage: xadd-throughput <redis-url> <depth> <count> [key]")
    exit(2)
}
let url = try RedisURL(parsing: arguments[arguments.startIndex])
let key = arguments.count > 3 ? arguments[arguments.startIndex + 3] : "bench:xadd:swift"

let connection = RedisConnection(configuration: RedisConnectionConfiguration(url: url))
try await connection.connect()
try await connection.send("DEL", key)
var batch = RedisCommandBatch(reservingCapacity: depth * 400)

// Warm-up: one tenth of the run, not timed.
for _ in 0..<max(1, count / depth / 10) {
    batch.removeAll()
    AggTradeEntry.append(count: depth, key: key, to: &batch)
    _ = try await connection.execute(batch)
}

let clock = ContinuousClock()
let start = clock.now
var written = 0
var failures = 0
while written < count {
    let n = min(depth, count - written)
    batch.removeAll()
    AggTradeEntry.append(count: n, key: key, to: &batch)
    let summary = try await connection.execute(batch)
    failures += summary.failures.count
    written += n
}
let elapsed = start.duration(to: clock.now)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
try await connection.send("DEL", key)
await connection.close()
print("{\"entries\":\(written),\"depth\":\(depth),\"seconds\":\(seconds),\"rate\":\(Int(Double(written) / seconds)),\"failures\":\(failures)}")

#if canImport(Glibc)
import Glibc
#endif

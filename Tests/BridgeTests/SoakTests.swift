import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// The soak: the bridge process under steady load on every stream type it carries most, a
/// fault every few seconds in rotation, its memory sampled before each; at the end every
/// message the exchange sent is accounted for (``Accounting``) and the resident set has not
/// grown.
///
/// Sized by the environment: `SOAK_SECONDS` (default 120: CI's run), `SOAK_FAULT_EVERY_S`
/// (default 15), `SOAK_RATE` (exchange actions per second over all six symbols, default
/// 1,500; about 0.9 messages per action reach the bridge on these streams). `scripts/soak.sh`
/// runs the long version. `scripts/test.sh` runs this suite alone, after the others.
@Suite("Soak: steady load with recurring faults", .serialized)
struct SoakTests {
    static func setting(_ name: String, _ fallback: Double) -> Double {
        ProcessInfo.processInfo.environment[name].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? fallback
    }

    /// A progress line on standard error, unbuffered: a long soak shows how it keeps up while
    /// it runs (standard output is block-buffered when it goes to a file).
    static func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// This process's peak resident set (the accounting's memory bound).
    static func peakResidentMiB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024
    }

    /// Trades, book tops, diff depth and mark prices of every default contract.
    static let streams: [(market: String, stream: String)] = {
        var streams: [(String, String)] = []
        for symbol in ["btcusdt", "ethusdt", "solusdt"] {
            for kind in ["aggTrade", "trade", "bookTicker", "depth@100ms", "markPrice@1s"] { streams.append(("usdm", "\(symbol)@\(kind)")) }
        }
        for symbol in ["btcusd_perp", "ethusd_perp", "btcusd_261225"] {
            for kind in ["aggTrade", "bookTicker", "depth@100ms"] { streams.append(("coinm", "\(symbol)@\(kind)")) }
        }
        return streams
    }()

    /// The faults, in rotation: each ends by itself (or at the next `clear`).
    static let faults: [(name: String, fault: SimFault)] = [
        ("drop every connection", .drop(.all)),
        ("stall every connection 4 s", .stallConnection(.all, seconds: 4)),
        ("truncated frames", .badFrame(.all, .truncated, bytes: 1_000)),
        ("ignore pings 4 s", .ignorePings(.all, seconds: 4)),
        ("stall btcusdt@markPrice@1s 6 s", .stallStream(market: .usdm, stream: "btcusdt@markPrice@1s", connection: nil, seconds: 6)),
        ("expire every connection", .expire(.all)),
        ("oversized frames", .badFrame(.all, .oversized, bytes: 3 << 20)),
    ]

    @Test(.timeLimit(.minutes(60)))
    func steadyLoadWithRecurringFaultsLosesNothingAndHoldsItsMemory() async throws {
        let seconds = Self.setting("SOAK_SECONDS", 120)
        let every = Self.setting("SOAK_FAULT_EVERY_S", 15)
        let rate = Self.setting("SOAK_RATE", 1_500)
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent("soak-\(UUID().uuidString.prefix(8)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: truth) }
        var configuration = testSimulatorConfiguration(groundTruth: truth)
        configuration.aggregateRate = rate
        try await withBinanceSimulator(configuration) { simulator in
            let prefix = uniquePrefix()
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                // The bridge trims nothing the accounting has not checked yet (it trims as it
                // goes, ``LiveAccounting``, and may fall minutes behind a 20k msg/s run: 20 M
                // entries is hours of the busiest stream); pings every second so a silent
                // socket is found within seconds.
                let maxlen = 20_000_000
                let arguments = try BridgeProcessDataTests().arguments(simulator, prefix: prefix)
                    + ["--redis-maxlen", String(maxlen), "--pool-ping-interval-s", "1", "--pool-idle-timeout-s", "3"]
                let bridge = try BridgeProcess(arguments: arguments)
                defer { if bridge.processIsRunning { bridge.signal(SIGKILL) } }
                try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
                try await FaultMatrixTests.subscribe(Self.streams, prefix: prefix, redis: redis)
                let run = FaultMatrixTests.Run(simulator: simulator, redis: redis, prefix: prefix, bridge: bridge, arguments: arguments)
                try await run.dataFlowsAgain(streams: Self.streams)

                // Accounted as it goes, every `checkpointEvery` up to `settle` ago (a time whose
                // messages have all arrived), so memory holds a few seconds of the run, not all.
                let live = try LiveAccounting(log: truth, streams: Self.streams, prefix: prefix)
                let checkpointEvery = Duration.seconds(5), settle: Int64 = 10_000_000, window: Int64 = 10_000_000
                let started = ContinuousClock.now
                let end = started + .milliseconds(Int64(seconds * 1000))
                var samples: [(at: Double, bytes: Int)] = []
                var injected: [String] = []
                var nextFault = started + .milliseconds(Int64(every * 1000))
                // Checkpoints run beside the fault schedule on their own connection, so a slow
                // one (the debug build reads 100k lines in seconds) never delays a fault.
                let checking = Task {
                    try await withRedisConnection(try SharedRedis.configuration()) { redis in
                        while ContinuousClock.now < end {
                            // A checkpoint that ran behind goes straight on to the next window.
                            if live.fedThrough >= WallClock.microseconds() - settle - window {
                                try await Task.sleep(until: min(end, ContinuousClock.now + checkpointEvery))
                            }
                            try await simulator.flushGroundTruth()
                            let began = ContinuousClock.now
                            try await live.checkpoint(cutoff: WallClock.microseconds() - settle, redis: redis, window: window)
                            let took = (ContinuousClock.now - began) / .seconds(1)
                            Self.progress(String(format: "soak %4d s: %d messages fed, %d entries read, %d trimmed, %d held; checkpoint %.2f s; bridge RSS %.1f MiB",
                                Int((ContinuousClock.now - started).components.seconds), live.messagesFed, live.entriesRead, live.entriesTrimmed, live.entriesHeld,
                                took,
                                Double(bridge.residentBytes ?? 0) / 1_048_576))
                        }
                    }
                }
                while ContinuousClock.now < end {
                    try await Task.sleep(until: min(end, nextFault))
                    nextFault += .milliseconds(Int64(every * 1000))
                    samples.append((Double((ContinuousClock.now - started).components.seconds), try #require(bridge.residentBytes, "the bridge exited: \(bridge.standardError.suffix(2000))")))
                    guard ContinuousClock.now < end else { break }
                    let (name, fault) = Self.faults[injected.count % Self.faults.count]
                    _ = try await simulator.inject(fault)
                    injected.append(name)
                }
                try await checking.value
                _ = try await simulator.inject(.clear)
                try await run.dataFlowsAgain(streams: Self.streams, timeout: .seconds(60))
                let until = WallClock.microseconds()
                // The accounting catches up a window at a time (on this 2-core machine it falls
                // behind a 20k msg/s run while the simulator and the bridge share the cores).
                try await simulator.flushGroundTruth()
                let caughtFrom = ContinuousClock.now, catchUp = caughtFrom + .seconds(Int64(max(60, seconds)))
                while live.fedThrough < until, ContinuousClock.now < catchUp {
                    try await live.checkpoint(cutoff: until, redis: redis, window: window)
                }
                Self.progress("soak: the accounting caught up in \((ContinuousClock.now - caughtFrom).components.seconds) s after the run")
                var accounting = Accounting(streams: [])
                try await eventually("every message sent is accounted for", timeout: .seconds(30)) {
                    try await simulator.flushGroundTruth()
                    // Windowed still: the load runs on while the accounting catches up, and
                    // entries written long after `until` are not this run's to check.
                    try await live.checkpoint(cutoff: until, redis: redis, window: window)
                    accounting = live.accounting
                    return accounting.holds
                }
                #expect(accounting.holds, "\(accounting.streams)")
                let megabytes = samples.map { String(format: "%.1f", Double($0.bytes) / 1_048_576) }
                print("soak \(Int(seconds)) s at \(Int(rate)) actions/s, a fault every \(Int(every)) s (\(injected.count): \(injected.joined(separator: ", "))): "
                    + "delivered \(accounting.delivered), in gaps \(accounting.inGap), unaccounted \(accounting.unaccounted), duplicates \(accounting.duplicates), "
                    + "altered \(accounting.altered), sequence breaks \(accounting.sequenceBreaks), gap markers \(accounting.gapMarkers); RSS MiB \(megabytes); "
                    + "accounting: \(live.entriesRead) entries read, \(live.entriesTrimmed) trimmed, \(live.entriesHeld) held at the end, test process peak RSS \(Self.peakResidentMiB()) MiB")
                #expect(injected.count >= Int(seconds / every) - 1, "\(injected)")
                #expect(accounting.delivered >= Int(rate * seconds / 4), "\(accounting.streams)")
                // Flat: after the first interval (warm-up: buffers, caches, the first
                // reconnects), the last sample within 10 % (and 8 MiB of noise) of the first.
                if samples.count >= 3 {
                    let warm = samples[1].bytes, last = samples[samples.count - 1].bytes
                    #expect(Double(last) <= Double(warm) * 1.10 + 8 * 1_048_576, "RSS grew: \(megabytes) MiB")
                }
                bridge.signal(SIGTERM)
                try await eventually("the bridge exits", timeout: .seconds(15)) { !bridge.processIsRunning }
                #expect(bridge.exitStatus == 0, "\(bridge.standardError.suffix(2000))")
            }
        }
    }
}

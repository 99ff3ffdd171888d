@testable import Bridge
import Foundation
import TestSupport
import Testing

/// The allocator setting behind the flat RSS after oversized frames (docs/reliability.md),
/// probed in fresh `binance-bridge malloc-probe` processes: in this busy test process a
/// 1 MiB block may come from free arena memory whatever the threshold.
@Suite("Memory tuning", .timeLimit(.minutes(1)))
struct MemoryTuningTests {
    func probe(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let process = try BridgeProcess(arguments: ["malloc-probe"] + arguments, environment: environment)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.processIsRunning {
            guard ContinuousClock.now < deadline else { throw TestError("malloc-probe did not exit within 20 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))  // the pipe's last bytes
        #expect(process.exitStatus == 0, "\(process.standardError)")
        return process.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// With the start-up pin, a 1 MiB block is still a mapping of its own (given back to the
    /// OS when freed) after 3 MiB blocks were freed; under glibc's dynamic threshold, which
    /// rose to 3 MiB, it lands in an arena and stays resident: the probe tells the two apart.
    @Test func largeBlocksStayMappedAfterALargerOneIsFreed() async throws {
        #expect(try await probe([]) == "mapped")
        #expect(try await probe(["--no-pin"]) == "arena")
    }

    /// An operator's own `GLIBC_TUNABLES` threshold wins (here 4 MiB: the 1 MiB block is an
    /// arena chunk because the operator said so).
    @Test func anOperatorsTunableIsLeftAlone() async throws {
        #expect(!MemoryTuning.pinMmapThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"]))
        #expect(try await probe([], environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4194304"]) == "arena")
        #expect(try await probe([], environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"]) == "mapped")
    }
}

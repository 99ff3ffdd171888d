import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// Connection rotation as a consumer sees it in Redis: a rotation that switches in time
/// leaves no marker and no hole or repeat; one cut short by the old socket's drop leaves a
/// `gap reason=rotation` marker in exactly the streams that may have lost data.
@Suite("Rotation through Redis", .timeLimit(.minutes(3)))
struct RotationMarkerTests {
    /// The aggregate trade ids the exchange sent on `stream`, in order (its ground-truth log).
    static func sentTradeIDs(_ truth: String, stream: String) throws -> [Int] {
        try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard object?["stream"] as? String == stream, let payload = object?["payload"] as? [String: Any] else { return nil }
            return (payload["a"] as? NSNumber)?.intValue
        }
    }

    /// Trade ids of the data entries in `entries`, in stream order.
    static func tradeIDs(_ entries: [(id: String, fields: [String: String])]) -> [Int] {
        entries.filter { $0.fields["type"] == "agg_trade" }.compactMap { $0.fields["agg_trade_id"].flatMap(Int.init) }
    }

    @Test func aTimelyRotationLeavesNoMarkerNoHoleAndNoRepeat() async throws {
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-rotation-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: truth) }
        let streams = ["btcusdt@aggTrade", "ethusdt@aggTrade"]
        try await withBinanceSimulator(testSimulatorConfiguration(groundTruth: truth)) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            // A replacement 3 s after the open, 20 s to switch; the simulator's own 24 h close
            // never comes.
            configuration.pool.connectionLifetime = .seconds(60)
            configuration.pool.rotationMargin = .seconds(57)
            configuration.pool.rotationOverlapTimeout = .seconds(20)
            try await BridgeHarness.with(configuration) { bridge in
                #expect(try await bridge.command(["op": "subscribe", "streams": .array(streams.map { .string($0) })])["ok"] == true)
                try await eventually("rotated", timeout: .seconds(40)) {
                    let status = try await bridge.command(["op": "status"])
                    return (status["result"]?["rotations"]?.integer ?? 0) >= 1
                }
                // Entries from the replacement after the switch.
                let before = try await bridge.entries(streams[0]).count
                try await eventually("entries after the switch") { try await bridge.entries(streams[0]).count > before + 5 }
                try await simulator.flushGroundTruth()
                for stream in streams {
                    let entries = try await bridge.entries(stream)
                    #expect(!entries.contains { $0.fields["type"] == "gap" }, "\(stream): \(entries.filter { $0.fields["type"] == "gap" }.map(\.fields))")
                    let ids = Self.tradeIDs(entries)
                    let sent = try Self.sentTradeIDs(truth, stream: stream)
                    let first = try #require(sent.firstIndex(of: ids.first ?? -1), "\(stream): first entry not in the ground truth")
                    // Every trade the exchange sent from the first entry on, once, in order.
                    #expect(ids == Array(sent[first..<min(sent.count, first + ids.count)]), "\(stream): \(ids.count) entries, \(Set(ids).count) distinct")
                }
            }
        }
    }

    @Test func aRotationCutShortMarksOnlyTheStreamsThatMayHaveLostData() async throws {
        let aligned = "btcusdt@aggTrade"
        let held = "ethusdt@aggTrade"
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            configuration.pool.connectionLifetime = .seconds(60)
            configuration.pool.rotationMargin = .seconds(56)
            configuration.pool.rotationOverlapTimeout = .seconds(40)
            try await BridgeHarness.with(configuration) { bridge in
                #expect(try await bridge.command(["op": "subscribe", "streams": [.string(aligned), .string(held)]])["ok"] == true)
                let count = try await bridge.entries(aligned).count
                let since = try await holdRotationThenDropTheOldSocket(
                    simulator, held: held, aligned: aligned, alignedStall: 8,
                    rotations: { Int(try await bridge.command(["op": "status"])["result"]?["rotations"]?.integer ?? -1) }
                ) { try await bridge.entries(aligned).count > count + 3 }
                try await eventually("a rotation gap in the held stream, then its data") {
                    let entries = try await bridge.entries(held)
                    guard let gap = entries.lastIndex(where: { $0.fields["reason"] == "rotation" }) else { return false }
                    return entries[(gap + 1)...].contains { $0.fields["type"] == "agg_trade" }
                }
                let gaps = try await bridge.entries(held).filter { $0.fields["reason"] == "rotation" }
                #expect(gaps.count == 1)
                let gap = try #require(gaps.first?.fields)
                #expect(gap["type"] == "gap")
                #expect(gap["stream"] == held && gap["symbol"] == "ETHUSDT" && gap["market"] == "usdm")
                let start = try #require(gap["gap_start_us"].flatMap(Int64.init))
                let end = try #require(gap["gap_end_us"].flatMap(Int64.init))
                #expect(start < end)
                // The stream that aligned crossed without a rotation marker and without a repeat
                // (its stall before the rotation may have left a `stale` marker: not ours here).
                let alignedEntries = try await bridge.entries(aligned)
                #expect(!alignedEntries.contains { $0.fields["reason"] == "rotation" })
                let ids = Self.tradeIDs(alignedEntries.filter { Int64($0.fields["recv_time_us"] ?? "") ?? 0 > since })
                #expect(ids.count > 3 && ids == ids.sorted() && Set(ids).count == ids.count)
            }
        }
    }
}

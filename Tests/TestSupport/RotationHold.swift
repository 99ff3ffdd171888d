import BinanceSimulator
import BridgeCore
import Testing

/// Holds a rotation open deterministically, for tests of what happens when it cannot hand
/// over in the ordinary way.
///
/// `held` is stalled on the old socket for good and `aligned` on every socket for
/// `alignedStall` seconds, from before the replacement opens: the replacement's first frames
/// are `held` frames the old socket never sends, so the switch waits (one side only) however
/// the machine schedules things. Once `aligned` flows on both again (`flowing`) it aligns
/// (switched in the deduplicator). Returns the old socket's id and when `aligned` was seen
/// flowing again (wall µs): its frames from then on cross the hand-over.
public func holdRotation(
    _ simulator: BinanceSimulator, held: String, aligned: String, alignedStall: Double, flowing: () async throws -> Bool
) async throws -> (old: Int, alignedAgainAt: Int64) {
    try await eventually("subscribed on the first socket") {
        try await simulator.status().connections.first { $0.market == .usdm }?.streams.count == 2
    }
    let old = try #require(try await simulator.status().connections.first { $0.market == .usdm }?.id)
    try await simulator.inject(.stallStream(market: .usdm, stream: held, connection: old, seconds: nil))
    try await simulator.inject(.stallStream(market: .usdm, stream: aligned, connection: nil, seconds: alignedStall))
    try await eventually("the replacement delivers", timeout: .seconds(30)) {
        try await simulator.status().connections.contains { $0.market == .usdm && $0.id != old && $0.streams.count == 2 && $0.messagesSent >= 5 }
    }
    // The precondition of a deterministic hold: the replacement's first frames came while
    // `aligned` was still stalled everywhere.
    #expect(try await simulator.status().stalledStreams.contains("usdm:\(aligned)"),
            "the replacement subscribed after the stall of \(aligned) ended: raise alignedStall")
    try await eventually("the stall of \(aligned) ends", timeout: .seconds(30)) {
        try await !simulator.status().stalledStreams.contains("usdm:\(aligned)")
    }
    let alignedAgainAt = WallClock.microseconds()
    try await eventually("\(aligned) flows again", flowing)
    try await Task.sleep(for: .seconds(1))  // both sockets carry it: it aligns
    return (old, alignedAgainAt)
}

/// ``holdRotation(_:held:aligned:alignedStall:flowing:)``, then expects `rotations()` to be 0
/// and drops the old socket (Binance's 24 h close, early). Returns when `aligned` flowed again.
public func holdRotationThenDropTheOldSocket(
    _ simulator: BinanceSimulator, held: String, aligned: String, alignedStall: Double,
    rotations: () async throws -> Int, flowing: () async throws -> Bool
) async throws -> Int64 {
    let (old, alignedAgainAt) = try await holdRotation(simulator, held: held, aligned: aligned, alignedStall: alignedStall, flowing: flowing)
    #expect(try await rotations() == 0, "the rotation is held until the old socket drops")
    try await simulator.inject(.drop(.connection(old)))
    return alignedAgainAt
}

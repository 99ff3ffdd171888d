import BinanceSimulator
import BridgeCore
import Testing

/// Holds a rotation open deterministically, then drops the old socket, for tests of the
/// hand-over when Binance closes a connection before its replacement has switched.
///
/// `held` is stalled on the old socket for good and `aligned` on every socket for
/// `alignedStall` seconds, from before the replacement opens: the replacement's first frames
/// are `held` frames the old socket never sends, so the switch waits (one side only) however
/// the machine schedules things. Once `aligned` flows on both again (`flowing`) it aligns;
/// then the old socket is dropped. Expects `rotations()` to be 0 until then. Returns when
/// `aligned` was seen flowing again (wall µs): its frames from then on cross the hand-over.
public func holdRotationThenDropTheOldSocket(
    _ simulator: BinanceSimulator, held: String, aligned: String, alignedStall: Double,
    rotations: () async throws -> Int, flowing: () async throws -> Bool
) async throws -> Int64 {
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
    #expect(try await rotations() == 0, "the rotation is held until the old socket drops")
    // Binance's 24 h close, early: the old socket drops mid-rotation.
    try await simulator.inject(.drop(.connection(old)))
    return alignedAgainAt
}

@testable import BridgeCore

/// A test instant: an offset from an arbitrary origin, advanced only by the test.
struct FakeInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    static let zero = FakeInstant(offset: .zero)

    static func ms(_ milliseconds: Int64) -> FakeInstant { FakeInstant(offset: .milliseconds(milliseconds)) }
    static func s(_ seconds: Int64) -> FakeInstant { FakeInstant(offset: .seconds(seconds)) }

    func advanced(by duration: Duration) -> FakeInstant { FakeInstant(offset: offset + duration) }
    func duration(to other: FakeInstant) -> Duration { other.offset - offset }
    static func < (lhs: FakeInstant, rhs: FakeInstant) -> Bool { lhs.offset < rhs.offset }

    /// One tick (a nanosecond) earlier.
    var justBefore: FakeInstant { advanced(by: .zero - .nanoseconds(1)) }

    var description: String { "t+\(offset)" }
}

/// Shorthand for parsing a known-good stream name in tests.
func stream(_ name: String, _ market: BinanceMarket = .usdm) -> BinanceStreamName {
    do { return try BinanceStreamName(name, market: market) } catch { fatalError("\(error)") }
}

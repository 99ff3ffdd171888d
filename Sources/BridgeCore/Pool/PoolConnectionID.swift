/// Identifies one connection of a market's stream pool, for its whole life (reconnects keep
/// the id; a rotation's replacement gets a new one). Ids increase and are never reused.
public struct PoolConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number, starting at 1 in each pool.
    public let rawValue: Int

    /// The id numbered `rawValue`.
    public init(_ rawValue: Int) {
        self.rawValue = rawValue
    }

    public static func < (lhs: PoolConnectionID, rhs: PoolConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "#\(rawValue)" }
}

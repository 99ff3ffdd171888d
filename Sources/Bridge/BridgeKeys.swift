import BridgeCore

/// The names of the bridge's keys and channels under its prefix (Redis contract).
public struct BridgeKeys: Sendable, Equatable {
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    public var control: String { prefix + ":control" }
    public var events: String { prefix + ":events" }
    public var status: String { prefix + ":status" }
    public func subscriptions(_ market: BinanceMarket) -> String { "\(prefix):subscriptions:\(market.rawValue)" }
    public func instruments(_ market: BinanceMarket) -> String { "\(prefix):instruments:\(market.rawValue)" }
    public func stream(_ stream: String, _ market: BinanceMarket) -> String { "\(prefix):\(market.rawValue):\(stream)" }
}

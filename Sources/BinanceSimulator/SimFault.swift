import BridgeCore

/// Which connections a fault applies to: all of them, one market's, or one by id.
public struct SimConnectionTarget: Sendable, Equatable, CustomStringConvertible {
    /// Restrict to one market (nil: both).
    public var market: BinanceMarket?
    /// Restrict to one connection id, as ``SimConnectionStatus/id`` reports it (nil: all).
    public var connection: Int?

    public init(market: BinanceMarket? = nil, connection: Int? = nil) {
        self.market = market
        self.connection = connection
    }

    /// Every open connection of both markets.
    public static let all = SimConnectionTarget()

    /// One connection by id.
    public static func connection(_ id: Int) -> SimConnectionTarget { SimConnectionTarget(connection: id) }

    /// Every connection of one market.
    public static func market(_ market: BinanceMarket) -> SimConnectionTarget { SimConnectionTarget(market: market) }

    func matches(id: Int, market: BinanceMarket) -> Bool {
        (connection == nil || connection == id) && (self.market == nil || self.market == market)
    }

    public var description: String {
        switch (market, connection) {
        case (nil, nil): "all connections"
        case (let market?, nil): "\(market.rawValue) connections"
        case (_, let id?): "connection \(id)"
        }
    }
}

/// A bad frame the exchange can be made to send (what real feeds occasionally deliver).
public enum SimBadFrameKind: String, Sendable, CaseIterable {
    /// Not JSON at all: `{"e":"aggTrade","E":` followed by garbage.
    case malformed
    /// A real-looking payload cut off in the middle, as a broken proxy would deliver it.
    case truncated
    /// A valid JSON frame larger than clients' default limits (``SimFault/badFrame`` `bytes`).
    case oversized
}

/// A fault the simulator injects, through ``BinanceSimulator/inject(_:)`` or the admin API.
///
/// Durations are optional where a fault can last "until cleared" (``clear``); faults that act
/// once (drop, expire, bad frame, sequence gap) have none.
public enum SimFault: Sendable, Equatable {
    /// Close the TCP connections abruptly: no close frame (clients see 1006 / EOF).
    case drop(SimConnectionTarget)
    /// Close the connections as if their lifetime had just run out (close 1001).
    case expire(SimConnectionTarget)
    /// Keep the TCP connections open but send nothing (no data, no pings) and ignore what
    /// arrives (no pongs): a silently stalled socket.
    case stallConnection(SimConnectionTarget, seconds: Double?)
    /// Stop answering the clients' pings (data and server pings continue).
    case ignorePings(SimConnectionTarget, seconds: Double?)
    /// Release at most `bytesPerSecond` of data frames per second per connection; frames wait
    /// in a queue bounded like a slow reader's (64 MiB, then a 1008 "slow consumer" close).
    case slowWrites(SimConnectionTarget, bytesPerSecond: Int)
    /// Send one bad frame on each targeted connection; `bytes` sizes an oversized frame.
    case badFrame(SimConnectionTarget, SimBadFrameKind, bytes: Int)
    /// Stop sending `stream` (on every connection, or only on `connection`).
    case stallStream(market: BinanceMarket, stream: String, connection: Int?, seconds: Double?)
    /// Withhold the next event of each diff-depth stream of `symbol` (every speed) so the
    /// following event's `pu` does not match the last `u` clients saw: a sequence gap.
    case sequenceGap(market: BinanceMarket, symbol: String)
    /// Close every new TCP connection at once, on both ports, for `seconds`.
    case refuseConnections(seconds: Double)
    /// Answer the next `count` REST requests (both markets, any endpoint) with `status` —
    /// `429` (rate limited) or `418` (IP banned) — and `Retry-After: retryAfter` seconds, as
    /// Binance does past its weight limit; without waiting out a real minute or ban.
    case restLimit(status: Int, count: Int, retryAfter: Int)
    /// Hold every REST answer for `seconds` (a slow or hung API: clients time out).
    case stallREST(seconds: Double)
    /// Answer the next `count` valid `SUBSCRIBE` requests on `market` (nil: of either market,
    /// `count` in all) with an
    /// error object of `code` instead of subscribing: an exchange in trouble refusing what it
    /// would normally accept.
    case rejectSubscriptions(market: BinanceMarket?, count: Int, code: Int)
    /// Lower the incoming-message limit of every connection to `perSecond` for `seconds`
    /// (then back to the configured one): a client well-behaved at the normal limit is closed
    /// 1008 "Too many requests", as Binance closes a client that sends more than 10 a second.
    case messageLimit(perSecond: Int, seconds: Double)
    /// Lift every lasting fault (stalls, ignored pings, slow writes, refusal).
    case clear
}

/// What an injected fault did.
public struct SimFaultOutcome: Sendable, Equatable {
    /// Connections (or streams, for a sequence gap) it was applied to.
    public var affected: Int
    /// The stream names armed (sequence gap) or the connection ids touched.
    public var details: [String]

    public init(affected: Int, details: [String] = []) {
        self.affected = affected
        self.details = details
    }
}

/// A fault that could not be applied (unknown market, stream or connection, bad value).
public struct SimFaultError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One open connection, as the admin API's `/status` shows it.
public struct SimConnectionStatus: Sendable, Equatable {
    public var id: Int
    public var market: BinanceMarket
    public var route: SimRoute
    public var combined: Bool
    /// Subscribed streams in subscription order.
    public var streams: [String]
    /// Milliseconds since the connection was accepted.
    public var ageMilliseconds: Int64
    /// Data frames queued to it since it opened.
    public var messagesSent: Int
    /// Server pings sent; pongs received that echoed one of them; pongs that did not
    /// (unsolicited: accepted, and no answer to a ping).
    public var pingsSent: Int
    public var pongsAnswering: Int
    public var pongsUnsolicited: Int
    /// Active faults on it: `stalled`, `ignoring_pings`, `slow_writes`.
    public var faults: [String]
}

/// The simulator's state as the admin API reports it.
public struct SimStatus: Sendable, Equatable {
    public var connections: [SimConnectionStatus]
    /// Data messages queued to sockets since start (every connection counted).
    public var messagesSent: Int
    /// Diff-depth events withheld by ``SimFault/sequenceGap(market:symbol:)``.
    public var eventsWithheld: Int
    /// Connections refused (fault) or rejected (attempt limit) since start.
    public var connectionsRefused: Int
    /// Streams stalled by ``SimFault/stallStream(market:stream:connection:seconds:)``, as `market:stream`.
    public var stalledStreams: [String]
    /// Whether new connections are being refused right now.
    public var refusingConnections: Bool
    /// Capture records sent so far and malformed capture lines skipped (replay only).
    public var replayedRecords: Int
    public var replayMalformedLines: Int
}

import BridgeCore
import NIOCore

/// One frame of market data as the pool received it.
public struct StreamMessage: Sendable {
    /// The Binance stream it belongs to (`btcusdt@aggTrade`), exactly as subscribed.
    public var stream: String
    /// The frame's bytes: the bare payload on raw connections, the whole
    /// `{"stream":…,"data":…}` object on combined ones.
    public var bytes: ByteBuffer
    /// When the frame was read from the socket, microseconds since the epoch.
    public var receiveTimeMicroseconds: Int64
    /// The connection that delivered it.
    public var connection: Int
    /// The stream parsed, as the pool knows it (nil for a stream it no longer holds), so a
    /// consumer need not parse or cache names per frame.
    public var name: BinanceStreamName?

    public init(stream: String, bytes: ByteBuffer, receiveTimeMicroseconds: Int64, connection: Int, name: BinanceStreamName? = nil) {
        self.stream = stream
        self.bytes = bytes
        self.receiveTimeMicroseconds = receiveTimeMicroseconds
        self.connection = connection
        self.name = name
    }
}

/// What the pool reports: data, and every lifecycle change a consumer must see to know where
/// data may be missing.
public enum StreamPoolEvent: Sendable {
    /// A data frame.
    case message(StreamMessage)
    /// The pool dropped `count` of this stream's oldest messages because the consumer fell
    /// behind (the output buffer was full). Delivered before any later message of the stream.
    case dropped(stream: String, count: Int)
    /// Any other lifecycle change (connections, subscriptions, liveness, rotation).
    case lifecycle(StreamPoolLifecycleEvent)
}

/// Connection and subscription changes.
public enum StreamPoolLifecycleEvent: Sendable, Equatable {
    case connectionOpened(connection: Int, route: BinanceRoute)
    case connectionClosed(connection: Int, reason: String)
    /// A connection came back after a drop; `streams` were resubscribed. Data between
    /// `gapStartMicroseconds` (last frame before the drop) and `gapEndMicroseconds` (first
    /// frame after) may be missing.
    case reconnected(connection: Int, streams: [String], gapStartMicroseconds: Int64, gapEndMicroseconds: Int64)
    /// A connection near its lifetime was replaced by `replacement`; every stream moved.
    case rotated(connection: Int, replacement: Int, streams: [String])
    /// During that rotation, `streams` switched to the replacement without the two
    /// connections' sequences overlapping (the old one dropped before the replacement
    /// delivered them, or they never matched): data between `gapStartMicroseconds` (the
    /// rotation's start) and `gapEndMicroseconds` (the switch) may be missing. Delivered
    /// before the replacement's first frame of those streams.
    case rotationGap(connection: Int, replacement: Int, streams: [String], gapStartMicroseconds: Int64, gapEndMicroseconds: Int64)
    /// Binance acknowledged the subscription.
    case confirmed(stream: String, connection: Int)
    /// The subscription failed (error reply, or no ack after the retries).
    case failed(stream: String, reason: String)
    /// Binance answered a SUBSCRIBE of `streams` with an error; `retrying` when it is sent
    /// again after the ack timeout (an unexpected code, attempts left), else `failed` follows.
    case subscribeRefused(streams: [String], reason: String, retrying: Bool)
    /// No data for longer than the stream's expected cadence.
    case stale(stream: String, silentForMicroseconds: Int64)
    /// Data again after `stale`.
    case resumed(stream: String)
    /// A frame that is neither data nor a reply to a request (malformed, truncated, or of an
    /// unknown shape), so it belongs to no stream: skipped, and reported.
    case unrecognizedFrame(connection: Int, reason: String)
}

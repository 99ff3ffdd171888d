import BridgeCore
import NIOCore

/// A text message as read from the socket: its bytes (never converted to `String`) and when
/// it was read.
public struct BinanceReceivedMessage: Sendable {
    public var bytes: ByteBuffer
    /// Wall clock when the message was complete, µs since the epoch.
    public var receiveTimeMicroseconds: Int64

    /// What the message is (data of a stream, a reply, something else).
    public var frame: BinanceFrame {
        bytes.withUnsafeReadableBytes { BinanceFrame.classify($0) }
    }
}

/// Why a connection ended.
public enum BinanceConnectionEnd: Sendable, Equatable {
    /// The server sent a close frame (Binance: 1001 at the 24 h limit, 1008 for too many
    /// requests or subscriptions).
    case closedByServer(code: Int, reason: String)
    /// The socket ended without a close frame (network failure, server crash: 1006).
    case dropped
    /// Our side ended it (the handler returned or the task was cancelled).
    case closedLocally
    /// We closed it because the peer went quiet: `reason` says how (a ping unanswered by
    /// the next one, or no frame at all for the idle timeout).
    case unresponsive(reason: String)
}

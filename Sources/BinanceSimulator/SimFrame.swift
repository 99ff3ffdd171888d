import NIOCore
import NIOWebSocket

/// Whole server-to-client WebSocket frames, encoded once.
///
/// A data message fanned out to many connections is the same bytes on every one (server
/// frames are never masked), so the exchange encodes header + payload into one buffer and
/// every connection writes that buffer as is, below NIO's frame encoder (see
/// `SimWebSocketHandler.deliver`). At 250k+ messages per second this removes an allocation,
/// a boxed `WebSocketFrame` and a second iovec per message per connection.
enum SimFrame {
    /// A final text frame carrying `text` (RFC 6455 §5.2: FIN + opcode 1, 7/16/64-bit length).
    static func text(_ text: String) -> ByteBuffer {
        let length = text.utf8.count
        var buffer = ByteBufferAllocator().buffer(capacity: length + 10)
        buffer.writeInteger(UInt8(0x81))
        switch length {
        case ..<126:
            buffer.writeInteger(UInt8(length))
        case ..<65_536:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeString(text)
        return buffer
    }
}

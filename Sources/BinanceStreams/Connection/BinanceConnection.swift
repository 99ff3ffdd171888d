import Logging

/// The WebSocket implementations a connection can run on.
public enum BinanceTransport: String, Sendable, CaseIterable {
    /// ``BinanceNIOConnection``: frames handled on the event loop (the default).
    case nio
    /// ``BinanceWebSocketConnection``: swift-websocket's client.
    case swiftWebSocket
}

/// Runs a connection on the transport its settings name.
///
/// `onMessage` gets every message; `onReadComplete` follows the last message of each socket
/// read (after every message on swift-websocket, which has no notion of a read), so a
/// consumer can hand a read's messages on in one go.
public enum BinanceConnection {
    public static func run(
        _ settings: BinanceConnectionSettings,
        logger: Logger,
        onOpen: @escaping @Sendable (BinanceRequestWriter) async throws -> Void,
        onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void,
        onReadComplete: @escaping @Sendable () -> Void = {}
    ) async throws -> BinanceConnectionEnd {
        switch settings.transport {
        case .nio: try await BinanceNIOConnection.run(settings, logger: logger, onOpen: onOpen, onMessage: onMessage, onReadComplete: onReadComplete)
        case .swiftWebSocket: try await BinanceWebSocketConnection.run(settings, logger: logger, onOpen: onOpen, onMessage: onMessage, onReadComplete: onReadComplete)
        }
    }
}

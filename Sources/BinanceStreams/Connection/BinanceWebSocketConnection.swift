import BridgeCore
import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import WSClient

/// How one WebSocket connection to Binance is made.
public struct BinanceConnectionSettings: Sendable, CustomStringConvertible {
    /// `wss://fstream.binance.com/market/stream` (or `ws://` for the simulator).
    public var url: String
    /// Sent as `X-MBX-APIKEY` when set; never printed (``description`` redacts it).
    public var apiKey: APIKey?
    /// Upper bound on TCP + TLS + HTTP upgrade (the seed: 5 s).
    public var connectTimeout: Duration = .seconds(5)
    /// Largest message accepted. Binance's `!…@arr` frames and depth snapshots exceed the
    /// client's 16 KiB default (toolchain notes); a larger one closes the connection (1009).
    public var maxMessageSize = 16 << 20
    /// TLS for `wss://`: the system trust store by default; tests trust the simulator's
    /// certificate here.
    public var tls: TLSConfiguration = .makeClientConfiguration()
    /// SNI and certificate name when `url` names an IP (an IP cannot be SNI): e.g. `localhost`.
    public var serverName: String?
    /// Client ping period; a ping still unanswered at the next one closes the connection
    /// (a peer that stopped answering). Nil: no client pings.
    public var autoPing: Duration?
    /// Which WebSocket implementation carries the connection.
    public var transport: BinanceTransport = .nio

    public init(url: String, apiKey: APIKey? = nil) {
        self.url = url
        self.apiKey = apiKey
    }

    public var description: String {
        "BinanceConnectionSettings(url: \(url), apiKey: \(apiKey == nil ? "none" : "<redacted>"), connectTimeout: \(connectTimeout))"
    }
}

/// The WebSocket implementations a connection can run on.
public enum BinanceTransport: String, Sendable, CaseIterable {
    /// ``BinanceNIOConnection``: frames handled on the event loop (the default).
    case nio
    /// ``BinanceWebSocketConnection``: swift-websocket's client.
    case swiftWebSocket
}

/// Runs a connection on the transport its settings name.
public enum BinanceConnection {
    public static func run(
        _ settings: BinanceConnectionSettings,
        logger: Logger,
        onOpen: @escaping @Sendable (BinanceRequestWriter) async throws -> Void,
        onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void
    ) async throws -> BinanceConnectionEnd {
        switch settings.transport {
        case .nio: try await BinanceNIOConnection.run(settings, logger: logger, onOpen: onOpen, onMessage: onMessage)
        case .swiftWebSocket: try await BinanceWebSocketConnection.run(settings, logger: logger, onOpen: onOpen, onMessage: onMessage)
        }
    }
}

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
}

/// Errors of the stream connections; transport failures carry the underlying error's text.
public struct BinanceStreamsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case connectTimeout
        case connectFailed
        case messageTooLarge
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Sends requests on an open connection.
public struct BinanceRequestWriter: Sendable {
    private let write: @Sendable (String) async throws -> Void

    init(_ write: @escaping @Sendable (String) async throws -> Void) {
        self.write = write
    }

    /// Sends one text frame (a JSON request such as `{"method":"SUBSCRIBE",…}`).
    public func send(_ text: String) async throws {
        try await write(text)
    }
}

/// One WebSocket connection to a Binance market-data endpoint, on swift-websocket's client.
///
/// ``run(_:logger:onOpen:onMessage:)`` connects, calls `onOpen` with a writer once the
/// upgrade completed, then reads every message until the connection ends, handing each to
/// `onMessage` with its receive time. Reading never stops while the connection is open: the
/// client answers server pings only while someone reads (toolchain notes), so a slow
/// consumer must be handled downstream (the pool's bounded output), never here.
public enum BinanceWebSocketConnection {
    /// Runs one connection to its end. Throws ``BinanceStreamsError`` when it cannot be
    /// established (timeout, refused, TLS, bad URL); returns how it ended otherwise.
    public static func run(
        _ settings: BinanceConnectionSettings,
        logger: Logger,
        onOpen: @escaping @Sendable (BinanceRequestWriter) async throws -> Void,
        onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void
    ) async throws -> BinanceConnectionEnd {
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = settings.maxMessageSize
        configuration.validateUTF8 = false  // the bytes are parsed, never shown as text
        configuration.sniHostname = settings.serverName
        if let period = settings.autoPing { configuration.autoPing = .enabled(timePeriod: period) }
        if let apiKey = settings.apiKey, let name = HTTPField.Name("X-MBX-APIKEY") {
            configuration.additionalHeaders[name] = apiKey.secret
        }
        let opened = Flag()
        let maxSize = settings.maxMessageSize
        let configured = configuration
        let connect: @Sendable () async throws -> WebSocketCloseFrame? = {
            try await WebSocketClient.connect(
                url: settings.url, configuration: configured,
                tlsConfiguration: settings.url.hasPrefix("wss://") ? settings.tls : nil,
                logger: logger
            ) { inbound, outbound, _ in
                opened.set()
                try await onOpen(BinanceRequestWriter { try await outbound.write(.text($0)) })
                var frames = inbound.makeAsyncIterator()
                var partial: ByteBuffer?
                while let frame = try await frames.next() {
                    switch frame.opcode {
                    case .text, .binary:
                        partial = frame.data
                    case .continuation:
                        guard partial != nil else { continue }
                        var more = frame.data
                        guard partial!.readableBytes + more.readableBytes <= maxSize else {
                            throw BinanceStreamsError(.messageTooLarge, "a message exceeded \(maxSize) bytes")
                        }
                        partial!.writeBuffer(&more)
                    }
                    if frame.fin, let message = partial {
                        partial = nil
                        onMessage(BinanceReceivedMessage(bytes: message, receiveTimeMicroseconds: wallClockMicroseconds()))
                    }
                }
            }
        }
        // swift-websocket waits for the upgrade response on a future that task cancellation
        // does not interrupt, so a server that accepts TCP and never answers would hold a
        // task group (and us) forever. The connection therefore runs in its own task, and the
        // first of "it ended" and "no upgrade within the timeout" decides; a timed-out attempt
        // is cancelled and left to end when its socket does (known limitation, documented in
        // the README).
        let outcome = FirstOutcome<Result<WebSocketCloseFrame?, any Error>>()
        let session = Task {
            let result: Result<WebSocketCloseFrame?, any Error>
            do { result = .success(try await connect()) } catch { result = .failure(error) }
            outcome.resolve(result)
        }
        let timer = Task {
            try? await Task.sleep(for: settings.connectTimeout)
            if !opened.isSet { outcome.resolve(.failure(BinanceStreamsError(.connectTimeout, "no WebSocket upgrade from \(settings.url) within \(settings.connectTimeout)"))) }
        }
        let result = await withTaskCancellationHandler {
            await outcome.value
        } onCancel: {
            session.cancel()
            outcome.resolve(.failure(CancellationError()))
        }
        timer.cancel()
        let close: WebSocketCloseFrame?
        switch result {
        case .success(let frame):
            close = frame
        case .failure(let error as BinanceStreamsError):
            session.cancel()
            throw error
        case .failure(let error):
            session.cancel()
            if !opened.isSet && !(error is CancellationError) {
                throw BinanceStreamsError(.connectFailed, "\(settings.url): \(error)")
            }
            if Task.isCancelled || error is CancellationError { return .closedLocally }
            return .dropped
        }
        if let close { return .closedByServer(code: Int(UInt16(webSocketErrorCode: close.closeCode)), reason: close.reason ?? "") }
        return Task.isCancelled ? .closedLocally : .dropped
    }
}

/// A value resolved once by whichever of several tasks gets there first.
final class FirstOutcome<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    func resolve(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>] = state.withLock { state in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready: Value? = state.withLock { state in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}

/// A flag set once from one task and read from another.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

func wallClockMicroseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000
}

import BridgeCore
import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import WSClient

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
        onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void,
        onReadComplete: @escaping @Sendable () -> Void = {}
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
                        onMessage(BinanceReceivedMessage(bytes: message, receiveTimeMicroseconds: WallClock.microseconds()))
                        onReadComplete()
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

    /// Whether a value has been resolved.
    var isResolved: Bool { state.withLock { $0.value != nil } }

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


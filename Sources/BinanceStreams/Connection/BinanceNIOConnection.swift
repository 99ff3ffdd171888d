import BridgeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// A WebSocket connection to Binance built directly on SwiftNIO: the same contract as
/// ``BinanceWebSocketConnection`` (connect, `onOpen` with a writer, every message to
/// `onMessage`, how it ended), without swift-websocket's per-frame hop to a Swift task.
///
/// Frames are assembled, stamped and handed to `onMessage` on the channel's event loop, and
/// pings are answered there at once, whether or not anyone is slow downstream (the pool's
/// output is bounded and never blocks). Because the channel is ours, a connection attempt
/// that gets no upgrade within `connectTimeout` is closed, not abandoned.
public enum BinanceNIOConnection {
    /// Runs one connection to its end (see ``BinanceWebSocketConnection/run(_:logger:onOpen:onMessage:)``).
    public static func run(
        _ settings: BinanceConnectionSettings,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onOpen: @escaping @Sendable (BinanceRequestWriter) async throws -> Void,
        onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void,
        onReadComplete: @escaping @Sendable () -> Void = {}
    ) async throws -> BinanceConnectionEnd {
        let target = try Target(url: settings.url)
        let sslContext = try target.tls ? NIOSSLContext(configuration: settings.tls) : nil
        let serverName = settings.serverName ?? target.host
        /// True once upgraded; false if the channel closed first.
        let upgraded = FirstOutcome<Bool>()
        let outcome = FirstOutcome<ConnectionState.End>()
        let state = ConnectionState()
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(settings.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    let maxMessageSize = settings.maxMessageSize
                    let pingInterval = settings.autoPing
                    let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maxMessageSize, automaticErrorHandling: true) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                BinanceFrameHandler(maxMessageSize: maxMessageSize, pingInterval: pingInterval, idleTimeout: settings.idleTimeout, onMessage: onMessage, onReadComplete: onReadComplete, state: state)
                            )
                            upgraded.resolve(true)
                        }
                    }
                    let request = UpgradeRequestHandler(target: target, apiKey: settings.apiKey)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .forwardBytes,
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in
                            // The upgrade handler removed the HTTP handlers; ours goes too.
                            channel.pipeline.removeHandler(name: "binance-upgrade-request", promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(request, name: "binance-upgrade-request")
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: target.host, port: target.port).get()
        } catch {
            throw BinanceStreamsError(.connectFailed, "\(settings.url): \(error)")
        }
        // The upgrade must complete within the connect timeout; on our own channel a late one
        // is simply closed.
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(settings.connectTimeout)) {
            if !upgraded.isResolved {
                state.setEnd(.timeout)
                channel.close(promise: nil)
            }
        }
        channel.closeFuture.whenComplete { _ in
            timeout.cancel()
            upgraded.resolve(false)
            outcome.resolve(state.end)
        }
        let writer = BinanceRequestWriter { text in
            var buffer = channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)
            try await channel.writeAndFlush(frame)
        }
        return try await withTaskCancellationHandler {
            let opened = await upgraded.value
            guard opened else {
                let end = await outcome.value
                if case .timeoutBeforeUpgrade = end.kind {
                    throw BinanceStreamsError(.connectTimeout, "no WebSocket upgrade from \(settings.url) within \(settings.connectTimeout)")
                }
                throw BinanceStreamsError(.connectFailed, "\(settings.url): upgrade refused or connection closed (\(end.detail))")
            }
            do {
                try await onOpen(writer)
            } catch {
                channel.close(promise: nil)
                throw error
            }
            return await outcome.value.result
        } onCancel: {
            state.setEnd(.local)
            channel.close(promise: nil)
        }
    }

    /// Host, port and path of a `ws://` / `wss://` URL.
    struct Target {
        var host: String
        var port: Int
        var path: String
        var tls: Bool

        init(url: String) throws {
            let schemes = [("wss://", true, 443), ("ws://", false, 80)]
            guard let (prefix, tls, defaultPort) = schemes.first(where: { url.hasPrefix($0.0) }) else {
                throw BinanceStreamsError(.connectFailed, "unsupported URL \(url): expected ws:// or wss://")
            }
            let rest = url.dropFirst(prefix.count)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[..<slash]
            path = slash == rest.endIndex ? "/" : String(rest[slash...])
            if path.hasPrefix("?") { path = "/" + path }
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : defaultPort
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                port = Int(authority[authority.index(after: colon)...]) ?? -1
            } else {
                host = String(authority)
                port = defaultPort
            }
            guard !host.isEmpty, (1...65_535).contains(port) else { throw BinanceStreamsError(.connectFailed, "bad host or port in \(url)") }
            self.tls = tls
        }
    }
}

/// How a NIO connection ended, recorded by whichever side saw it first.
final class ConnectionState: Sendable {
    enum Kind: Sendable { case none, local, timeoutBeforeUpgrade, serverClose(Int, String), unresponsive(String) }
    struct End: Sendable {
        var kind: Kind
        var detail: String
        var result: BinanceConnectionEnd {
            switch kind {
            case .local: .closedLocally
            case .serverClose(let code, let reason): .closedByServer(code: code, reason: reason)
            case .unresponsive(let reason): .unresponsive(reason: reason)
            case .none, .timeoutBeforeUpgrade: .dropped
            }
        }
    }
    enum Mark { case local, timeout }

    private let value = Mutex(End(kind: .none, detail: "closed"))

    func setEnd(_ mark: Mark) {
        value.withLock { end in
            guard case .none = end.kind else { return }
            end.kind = mark == .local ? .local : .timeoutBeforeUpgrade
        }
    }

    /// We close because the peer went quiet.
    func unresponsive(_ reason: String) {
        value.withLock { end in
            guard case .none = end.kind else { return }
            end.kind = .unresponsive(reason)
        }
    }

    func serverClosed(code: Int, reason: String) {
        value.withLock { end in
            guard case .none = end.kind else { return }
            end.kind = .serverClose(code, reason)
        }
    }

    var end: End { value.withLock { $0 } }
}

/// Sends the HTTP upgrade request (with the API key header) once the channel is active.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let target: BinanceNIOConnection.Target
    private let apiKey: APIKey?

    init(target: BinanceNIOConnection.Target, apiKey: APIKey?) {
        self.target = target
        self.apiKey = apiKey
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        let defaultPort = target.tls ? 443 : 80
        headers.add(name: "Host", value: target.port == defaultPort ? target.host : "\(target.host):\(target.port)")
        if let apiKey { headers.add(name: "X-MBX-APIKEY", value: apiKey.secret) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Reaching here means the server answered without upgrading (e.g. 429, 404).
        context.close(promise: nil)
    }
}

/// Assembles messages, answers pings, sends auto-pings and reports server closes, all on the
/// channel's event loop.
final class BinanceFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let maxMessageSize: Int
    private let pingInterval: Duration?
    private let onMessage: @Sendable (BinanceReceivedMessage) -> Void
    private let onReadComplete: @Sendable () -> Void
    /// Whether a message was handed on since the last read completed.
    private var deliveredSinceReadComplete = false
    private let state: ConnectionState
    private var partial: ByteBuffer?
    private var awaitingPong = false
    private var pingTask: RepeatedTask?
    private let idleTimeout: Duration?
    private var idleTask: RepeatedTask?
    /// Frames of any kind since the idle check last looked (a counter: no clock read per frame).
    private var framesSinceCheck = 0
    /// Consecutive idle checks that saw no frame.
    private var quietChecks = 0

    init(
        maxMessageSize: Int, pingInterval: Duration?, idleTimeout: Duration? = nil, onMessage: @escaping @Sendable (BinanceReceivedMessage) -> Void,
        onReadComplete: @escaping @Sendable () -> Void = {}, state: ConnectionState
    ) {
        self.maxMessageSize = maxMessageSize
        self.pingInterval = pingInterval
        self.idleTimeout = idleTimeout
        self.onMessage = onMessage
        self.onReadComplete = onReadComplete
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if let idleTimeout {
            // Four checks per period: closed after 4 quiet checks in a row, i.e. between
            // 1× and 1.25× the timeout after the last frame.
            let check = TimeAmount.nanoseconds(max(1, TimeAmount(idleTimeout).nanoseconds / 4))
            idleTask = context.eventLoop.scheduleRepeatedTask(initialDelay: check, delay: check) { _ in
                let (handler, context) = bound.value
                handler.quietChecks = handler.framesSinceCheck == 0 ? handler.quietChecks + 1 : 0
                handler.framesSinceCheck = 0
                guard handler.quietChecks >= 4 else { return }
                handler.state.unresponsive("no frame for \(idleTimeout)")
                context.close(promise: nil)
            }
        }
        guard let pingInterval else { return }
        let period = TimeAmount(pingInterval)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = bound.value
            // The previous ping is still unanswered: the peer is gone or stalled.
            guard !handler.awaitingPong else {
                handler.state.unresponsive("ping unanswered for \(pingInterval)")
                context.close(promise: nil)
                return
            }
            handler.awaitingPong = true
            context.writeAndFlush(handler.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: context.channel.allocator.buffer(capacity: 0))), promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pingTask?.cancel()
        idleTask?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        framesSinceCheck &+= 1
        switch frame.opcode {
        case .text, .binary:
            partial = frame.unmaskedData
        case .continuation:
            guard partial != nil else { return }
            var more = frame.unmaskedData
            guard partial!.readableBytes + more.readableBytes <= maxMessageSize else {
                close(context, code: .messageTooLarge)
                return
            }
            partial!.writeBuffer(&more)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
            return
        case .pong:
            awaitingPong = false
            return
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self).map(Int.init) ?? 1005
            let reason = data.readString(length: data.readableBytes) ?? ""
            state.serverClosed(code: code, reason: reason)
            close(context, code: .normalClosure)
            return
        default:
            return
        }
        if frame.fin, let message = partial {
            partial = nil
            onMessage(BinanceReceivedMessage(bytes: message, receiveTimeMicroseconds: WallClock.microseconds()))
            deliveredSinceReadComplete = true
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        endRead()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Nothing read is left waiting for a read to complete.
        endRead()
        pingTask?.cancel()
        idleTask?.cancel()
        context.fireChannelInactive()
    }

    /// Tells the consumer a read ended, if it delivered a message.
    private func endRead() {
        guard deliveredSinceReadComplete else { return }
        deliveredSinceReadComplete = false
        onReadComplete()
    }

    private func close(_ context: ChannelHandlerContext, code: WebSocketErrorCode) {
        var buffer = context.channel.allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: buffer))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

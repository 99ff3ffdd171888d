import BridgeCore
import NIOCore
import NIOWebSocket

/// One simulated Binance WebSocket connection: live requests, framing, and Binance's limits
/// (streams per connection, incoming messages per second, lifetime, ping/pong deadline).
final class SimWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let market: BinanceMarket
    let route: SimRoute
    /// `{"stream":…,"data":…}` framing (`/stream` URLs, or `SET_PROPERTY combined true`).
    private(set) var combined: Bool
    /// Every stream the client subscribed, in subscription order (what LIST_SUBSCRIPTIONS shows).
    private(set) var subscriptions: [String] = []
    private let exchange: SimExchange
    private let initialStreams: [String]
    private(set) var context: ChannelHandlerContext?
    /// The context of NIO's frame encoder: writing through it sends pre-encoded frames (see
    /// ``SimFrame``) to the socket without passing the encoder, in order with the frames that do.
    private var rawContext: ChannelHandlerContext?
    private(set) var id = 0
    private(set) var closing = false
    /// Times (ms) of the last incoming messages, for the per-second limit.
    private var recentMessages: [Int64] = []
    private var awaitingPongSince: Int64?
    /// Payloads of the pings sent since the last answered one (newest last, at most 64): a
    /// pong echoing one of them answers; any other pong is unsolicited.
    private var unansweredPings: [Int64] = []
    /// Server pings sent, and pongs received that answered one / that did not (status).
    private(set) var pingsSent = 0
    private(set) var pongsAnswering = 0
    private(set) var pongsUnsolicited = 0
    private var lifetimeTask: Scheduled<Void>?
    /// The pending pong deadline; replaced (never accumulated) on each unanswered ping.
    private var pongDeadlineTask: Scheduled<Void>?
    private var pingTask: RepeatedTask?
    /// Wall-clock ms when the connection was accepted (status, ground truth).
    private(set) var openedAt: Int64 = 0
    /// Data frames queued since it opened.
    private(set) var messagesSent = 0

    // MARK: Fault state (set only by SimWebSocketHandler+Faults)

    /// No data, no pings, inbound ignored: a silently stalled socket.
    var stalled = false
    /// Client pings go unanswered.
    var ignoringPings = false
    /// Scheduled ends of timed faults, replaced (never accumulated) by each new injection.
    var stallEnd: Scheduled<Void>?
    var ignorePingsEnd: Scheduled<Void>?
    /// Throttled writes: frames wait here and are released at a fixed byte rate.
    var slow: SlowWriter?

    init(exchange: SimExchange, market: BinanceMarket, route: SimRoute, combined: Bool, streams: [String]) {
        self.exchange = exchange
        self.market = market
        self.route = route
        self.combined = combined
        initialStreams = streams
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // NIO's upgrader always installs the encoder ahead of this handler.
        rawContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        assert(rawContext != nil, "WebSocketFrameEncoder missing from the pipeline")
        openedAt = WallClock.milliseconds()
        id = exchange.register(self)
        let configuration = exchange.configuration
        for stream in initialStreams where !subscriptions.contains(stream) {
            subscriptions.append(stream)
            exchange.subscribe(self, stream)
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        lifetimeTask = context.eventLoop.scheduleTask(in: .init(configuration.lifetime)) {
            bound.value.close(code: .goingAway, reason: "connection lifetime expired")
        }
        let interval = TimeAmount(configuration.pingInterval)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.sendPing()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        teardown()
    }

    func channelInactive(context: ChannelHandlerContext) {
        teardown()
        context.fireChannelInactive()
    }

    private func teardown() {
        guard context != nil else { return }
        lifetimeTask?.cancel()
        lifetimeTask = nil
        pongDeadlineTask?.cancel()
        pongDeadlineTask = nil
        pingTask?.cancel()
        pingTask = nil
        stallEnd?.cancel()
        ignorePingsEnd?.cancel()
        slow?.task?.cancel()
        slow = nil
        exchange.unregister(self)
        context = nil
        rawContext = nil
    }

    // MARK: Outbound

    /// Queues one data frame, already encoded by ``SimFrame``; false when the connection takes
    /// no data (closing, stalled).
    func deliver(_ frame: ByteBuffer) -> Bool {
        guard let context, !closing, !stalled else { return false }
        if slow != nil {
            enqueueSlow(frame)
        } else {
            // A client that does not read: Binance eventually drops it; we close once NIO's
            // buffer passes the high-water mark instead of buffering without bound.
            guard context.channel.isWritable else {
                close(code: .policyViolation, reason: "slow consumer")
                return false
            }
            writeEncoded(frame)
        }
        messagesSent += 1
        return true
    }

    /// Writes a pre-encoded frame below the frame encoder.
    func writeEncoded(_ frame: ByteBuffer) {
        rawContext?.write(NIOAny(frame), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    private func sendText(_ text: String) {
        guard let context, !closing else { return }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))), promise: nil)
    }

    /// Sends a close frame with `code` and closes the TCP connection.
    func close(code: WebSocketErrorCode, reason: String) {
        guard let context, !closing else { return }
        closing = true
        var buffer = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.write(webSocketErrorCode: code)
        buffer.writeString(reason)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    // MARK: Pings

    private func sendPing() {
        guard let context, !closing, !stalled else { return }
        let now = WallClock.milliseconds()
        let frame = WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: String(now)))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        pingsSent += 1
        unansweredPings.append(now)
        if unansweredPings.count > 64 { unansweredPings.removeFirst() }
        if awaitingPongSince == nil {
            awaitingPongSince = now
            let deadline = TimeAmount(exchange.configuration.pongTimeout)
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            pongDeadlineTask?.cancel()
            pongDeadlineTask = context.eventLoop.scheduleTask(in: deadline) {
                let handler = bound.value
                if let since = handler.awaitingPongSince, since == now {
                    handler.close(code: .policyViolation, reason: "pong timeout")
                }
            }
        }
    }

    /// Drops the pending pong deadline: a stalled exchange neither pings nor reads pongs, so a
    /// ping outstanding when a stall began must not close the connection during it.
    func forgetPendingPing() {
        awaitingPongSince = nil
        unansweredPings.removeAll()
        pongDeadlineTask?.cancel()
        pongDeadlineTask = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // A stalled socket reads nothing: no replies, no pongs, no rate accounting.
        guard !closing, !stalled else { return }
        switch frame.opcode {
        case .connectionClose:
            close(code: .normalClosure, reason: "")
            return
        case .ping, .pong, .text, .binary:
            break
        default:
            return
        }
        // Every message counts toward the limit: requests, pings and pongs (protocol §2).
        guard countIncomingMessage() else {
            close(code: .policyViolation, reason: "Too many requests")
            return
        }
        switch frame.opcode {
        case .ping:
            guard !ignoringPings else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            // Binance: "Unsolicited pong frames are allowed, but will not prevent
            // disconnection." Only a pong echoing an unanswered ping's payload meets the deadline.
            guard let payload = Int64(String(buffer: frame.unmaskedData)), unansweredPings.contains(payload) else {
                pongsUnsolicited += 1
                return
            }
            pongsAnswering += 1
            unansweredPings.removeAll()
            awaitingPongSince = nil
            pongDeadlineTask?.cancel()
            pongDeadlineTask = nil
        case .text:
            handleRequest(String(buffer: frame.unmaskedData))
        default:
            break
        }
    }

    private func countIncomingMessage() -> Bool {
        let now = WallClock.milliseconds()
        recentMessages.removeAll { now - $0 >= 1_000 }
        recentMessages.append(now)
        return recentMessages.count <= exchange.messageLimit
    }

    // MARK: Requests

    private func reply(id: Int64?, result: String) {
        var json = JSONWriter()
        json.beginObject()
        json.raw("result", result)
        Self.writeID(id, into: &json)
        json.endObject()
        sendText(json.text)
    }

    private func replyError(id: Int64?, code: Int, message: String) {
        var json = JSONWriter()
        json.beginObject()
        json.beginObject("error")
        json.int("code", Int64(code))
        json.string("msg", escaping: message)
        json.endObject()
        Self.writeID(id, into: &json)
        json.endObject()
        sendText(json.text)
    }

    private static func writeID(_ id: Int64?, into json: inout JSONWriter) {
        if let id { json.int("id", id) } else { json.null("id") }
    }

    /// Handles one JSON request with Binance's replies and error codes (protocol §3).
    private func handleRequest(_ text: String) {
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parsing(text)
        } catch {
            replyError(id: nil, code: 3, message: "Invalid JSON: \(error.detail)")
            return
        }
        guard case .object(let request) = parsed else {
            replyError(id: nil, code: 2, message: "Invalid request: expected an object")
            return
        }
        var id: Int64?
        switch request["id"] {
        case nil, .null?: id = nil
        case .integer(let value)? where value >= 0: id = value
        default:
            replyError(id: nil, code: 2, message: "Invalid request: request ID must be an unsigned integer")
            return
        }
        guard case .string(let method)? = request["method"] else {
            replyError(id: id, code: 2, message: "Invalid request: missing field `method`")
            return
        }
        let params = request["params"]
        switch method {
        case "SUBSCRIBE", "UNSUBSCRIBE":
            guard case .array(let list)? = params else {
                replyError(id: id, code: 2, message: "Invalid request: missing field `params`")
                return
            }
            var names: [String] = []
            for item in list {
                guard case .string(let name) = item else {
                    replyError(id: id, code: 2, message: "Invalid request: stream names must be strings")
                    return
                }
                guard SimStream.isWellFormed(name) else {
                    replyError(id: id, code: 2, message: "Invalid request: invalid stream name `\(name)`")
                    return
                }
                names.append(name)
            }
            if method == "SUBSCRIBE" { subscribe(names, id: id) } else { unsubscribe(names, id: id) }
        case "LIST_SUBSCRIPTIONS":
            var json = JSONWriter()
            json.beginArray()
            for name in subscriptions { json.rawElement("\"\(name)\"") }
            json.endArray()
            reply(id: id, result: json.text)
        case "SET_PROPERTY", "GET_PROPERTY":
            let expected = method == "SET_PROPERTY" ? 2 : 1
            guard case .array(let list)? = params, list.count == expected, case .string(let name) = list[0] else {
                replyError(id: id, code: 2, message: "Invalid request: property name must be a string")
                return
            }
            guard name == "combined" else {
                replyError(id: id, code: 0, message: "Unknown property")
                return
            }
            if method == "GET_PROPERTY" {
                reply(id: id, result: combined ? "true" : "false")
                return
            }
            guard case .bool(let value) = list[1] else {
                replyError(id: id, code: 1, message: "Invalid value type: expected Boolean")
                return
            }
            combined = value
            reply(id: id, result: "null")
        default:
            replyError(
                id: id, code: 2,
                message: "Invalid request: unknown variant `\(method)`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
            )
        }
    }

    private func subscribe(_ names: [String], id: Int64?) {
        if let code = exchange.takeSubscriptionRejection(market) {
            // The fault: a valid request refused; nothing is subscribed.
            replyError(id: id, code: code, message: "Internal error; unable to process your request. Please try again.")
            return
        }
        let new = names.filter { !subscriptions.contains($0) }
        let uniqueNew = new.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if subscriptions.count + uniqueNew.count > exchange.configuration.maxStreamsPerConnection {
            // Binance answers error 4 and then drops the connection with every stream on it.
            replyError(id: id, code: 4, message: "Too many subscriptions")
            close(code: .policyViolation, reason: "Too many subscriptions")
            return
        }
        for name in uniqueNew {
            subscriptions.append(name)
            exchange.subscribe(self, name)
        }
        reply(id: id, result: "null")
    }

    private func unsubscribe(_ names: [String], id: Int64?) {
        for name in names {
            subscriptions.removeAll { $0 == name }
            exchange.unsubscribe(self, name)
        }
        // Unsubscribing a name never subscribed is acknowledged too.
        reply(id: id, result: "null")
    }
}

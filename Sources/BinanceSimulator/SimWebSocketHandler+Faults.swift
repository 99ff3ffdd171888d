import NIOCore
import NIOWebSocket

/// Frames held back by the slow-writes fault and the byte budget that releases them.
struct SlowWriter {
    /// Bytes released per second.
    var bytesPerSecond: Int
    var queue = CircularBuffer<ByteBuffer>()
    var queuedBytes = 0
    /// Bytes that may be written now; refilled every ``tick`` and capped at one second's worth
    /// (or the next frame, if larger), so an idle period does not become a burst.
    var credit = 0
    var task: RepeatedTask?

    static let tick = TimeAmount.milliseconds(10)
    /// The same bound as a client that stops reading (the channel's high-water mark).
    static let maxQueuedBytes = 64 << 20
}

// MARK: Faults on one connection

extension SimWebSocketHandler {
    /// Stalls the connection (nothing sent, nothing read) for `seconds`, or until cleared.
    func stall(seconds: Double?) {
        guard !closing else { return }
        stalled = true
        forgetPendingPing()
        stallEnd?.cancel()
        stallEnd = scheduleEnd(after: seconds) { $0.stalled = false }
    }

    /// Leaves client pings unanswered for `seconds`, or until cleared.
    func ignorePings(seconds: Double?) {
        guard !closing else { return }
        ignoringPings = true
        ignorePingsEnd?.cancel()
        ignorePingsEnd = scheduleEnd(after: seconds) { $0.ignoringPings = false }
    }

    /// Runs `end` on this handler after `seconds` (nil: never, the fault lasts until cleared).
    private func scheduleEnd(after seconds: Double?, _ end: @escaping (SimWebSocketHandler) -> Void) -> Scheduled<Void>? {
        guard let seconds, let context else { return nil }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let endBound = NIOLoopBound(end, eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) { endBound.value(bound.value) }
    }

    /// Throttles data frames to `bytesPerSecond`.
    func slowWrites(bytesPerSecond: Int) {
        guard let context, !closing else { return }
        if slow == nil {
            var writer = SlowWriter(bytesPerSecond: bytesPerSecond)
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            writer.task = context.eventLoop.scheduleRepeatedTask(initialDelay: SlowWriter.tick, delay: SlowWriter.tick) { _ in
                bound.value.releaseSlow()
            }
            slow = writer
        } else {
            slow!.bytesPerSecond = bytesPerSecond
        }
    }

    /// Lifts every lasting fault; frames held by slow writes are written at once, in order.
    func clearFaults() {
        stalled = false
        ignoringPings = false
        stallEnd?.cancel()
        ignorePingsEnd?.cancel()
        stallEnd = nil
        ignorePingsEnd = nil
        guard var writer = slow, let context else { return }
        writer.task?.cancel()
        slow = nil
        while let frame = writer.queue.popFirst() { writeEncoded(frame) }
        context.flush()
    }

    /// The active faults, by name, for status.
    var activeFaults: [String] {
        var names: [String] = []
        if stalled { names.append("stalled") }
        if ignoringPings { names.append("ignoring_pings") }
        if slow != nil { names.append("slow_writes") }
        return names
    }

    /// Closes the TCP connection without a close frame, as a network failure would.
    func drop() {
        guard let context, !closing else { return }
        context.close(promise: nil)
    }

    func enqueueSlow(_ payload: ByteBuffer) {
        slow!.queue.append(payload)
        slow!.queuedBytes += payload.readableBytes
        if slow!.queuedBytes > SlowWriter.maxQueuedBytes {
            close(code: .policyViolation, reason: "slow consumer")
        }
    }

    private func releaseSlow() {
        guard var writer = slow, let context, !closing else { return }
        let perTick = max(1, writer.bytesPerSecond / 100)
        let cap = max(writer.bytesPerSecond, writer.queue.first?.readableBytes ?? 0)
        writer.credit = min(cap, writer.credit + perTick)
        var wrote = false
        while let first = writer.queue.first, first.readableBytes <= writer.credit {
            writer.credit -= first.readableBytes
            writer.queuedBytes -= first.readableBytes
            writer.queue.removeFirst()
            writeEncoded(first)
            wrote = true
        }
        slow = writer
        if wrote { context.flush() }
    }

    /// Sends one bad frame of `kind`; returns its size in bytes, or nil if the connection
    /// takes nothing now (closing or stalled).
    func sendBadFrame(_ kind: SimBadFrameKind, bytes: Int, now: Int64) -> Int? {
        guard let context, !closing, !stalled else { return nil }
        let stream = subscriptions.first ?? (market == .usdm ? "btcusdt@aggTrade" : "btcusd_perp@aggTrade")
        let symbol = stream.split(separator: "@").first.map { $0.uppercased() } ?? "BTCUSDT"
        let text: String
        switch kind {
        case .malformed:
            // Valid UTF-8 (a text frame must be), invalid JSON.
            text = #"{"e":"aggTrade","E":\#(now),"s":"\#(symbol)","p":0x1F,,]} not json"#
        case .truncated:
            let payload = #"{"e":"aggTrade","E":\#(now),"s":"\#(symbol)","a":12345,"p":"97312.40","q":"0.125","f":1,"l":1,"T":\#(now),"m":true}"#
            let whole = combined ? #"{"stream":"\#(stream)","data":\#(payload)}"# : payload
            text = String(whole.prefix(whole.count / 2))
        case .oversized:
            let head = #"{"e":"oversized","E":\#(now),"s":"\#(symbol)","pad":""#
            let wrappedHead = combined ? #"{"stream":"\#(stream)","data":"# + head : head
            let tail = combined ? "\"}}" : "\"}"
            let padding = max(0, bytes - wrappedHead.utf8.count - tail.utf8.count)
            text = wrappedHead + String(repeating: "x", count: padding) + tail
        }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
        return buffer.readableBytes
    }
}

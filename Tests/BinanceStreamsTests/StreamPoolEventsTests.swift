import NIOCore
import Synchronization
import Testing
import TestSupport
@testable import BinanceStreams

@Suite("Pool output buffer")
struct StreamPoolEventsTests {
    static func message(_ stream: String, _ n: Int) -> StreamPoolEvent {
        .message(StreamMessage(stream: stream, bytes: ByteBuffer(string: "\(n)"), receiveTimeMicroseconds: Int64(n), connection: 1))
    }

    static func describe(_ event: StreamPoolEvent?) -> String {
        switch event {
        case .message(let message)?: "\(message.stream):\(String(buffer: message.bytes))"
        case .dropped(let stream, let count)?: "dropped \(stream) \(count)"
        case .lifecycle(let event)?: "\(event)"
        case nil: "end"
        }
    }

    @Test func deliversInOrderAndEndsAfterFinish() async {
        let events = StreamPoolEvents(capacity: 10)
        events.yield(Self.message("a", 1))
        events.yield(.lifecycle(.resumed(stream: "a")))
        events.yield(Self.message("a", 2))
        events.finish()
        events.yield(Self.message("a", 3))  // after finish: ignored
        var seen: [String] = []
        for await event in events { seen.append(Self.describe(event)) }
        #expect(seen == ["a:1", "resumed(stream: \"a\")", "a:2"])
    }

    @Test func overflowDropsTheOldestMessagesAndReportsThemFirst() async {
        let events = StreamPoolEvents(capacity: 3)
        events.yield(.lifecycle(.confirmed(stream: "a", connection: 1)))
        for n in 1...3 { events.yield(Self.message("a", n)) }
        events.yield(Self.message("b", 4))   // drops a:1
        events.yield(Self.message("b", 5))   // drops a:2
        events.yield(Self.message("b", 6))   // drops a:3
        events.yield(Self.message("b", 7))   // drops b:4
        #expect(events.droppedCount == 4)
        #expect(events.bufferedCount == 4)  // the lifecycle event and three messages
        events.finish()
        var seen: [String] = []
        for await event in events { seen.append(Self.describe(event)) }
        #expect(seen == ["dropped a 3", "dropped b 1", "confirmed(stream: \"a\", connection: 1)", "b:5", "b:6", "b:7"])
    }

    @Test func lifecycleEventsAreNeverDropped() async {
        let events = StreamPoolEvents(capacity: 1)
        for n in 0..<50 { events.yield(.lifecycle(.stale(stream: "s\(n)", silentForMicroseconds: 1))) }
        events.yield(Self.message("a", 1))
        events.yield(Self.message("a", 2))
        events.finish()
        var lifecycle = 0
        var last = ""
        for await event in events {
            if case .lifecycle = event { lifecycle += 1 }
            last = Self.describe(event)
        }
        #expect(lifecycle == 50)
        #expect(last == "a:2")
    }

    @Test func aWaitingConsumerIsWokenAndCancellationEndsIteration() async {
        let events = StreamPoolEvents(capacity: 4)
        async let first = events.first { _ in true }
        try? await Task.sleep(for: .milliseconds(50))
        events.yield(Self.message("x", 9))
        #expect(Self.describe(await first) == "x:9")

        let waiting = Task { await events.first { _ in true } }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
    }

    @Test func boundedUnderAFastProducer() async {
        let events = StreamPoolEvents(capacity: 1_000)
        for n in 0..<100_000 { events.yield(Self.message("s\(n % 7)", n)) }
        #expect(events.bufferedCount == 1_000)
        #expect(events.droppedCount == 99_000)
        events.finish()
        var drops = 0, messages = 0
        for await event in events {
            switch event {
            case .dropped(_, let count): drops += count
            case .message: messages += 1
            default: break
            }
        }
        #expect(drops == 99_000 && messages == 1_000)
    }

    /// A socket read's frames are queued without waking the consumer (`wake: false`) and
    /// handed over together at ``StreamPoolEvents/flush()``, in order, also when a waking
    /// event comes after them.
    @Test func deferredFramesWakeTheConsumerOnceAtFlushInOrder() async throws {
        let events = StreamPoolEvents(capacity: 100)
        let waiting = Task { await events.nextBatch().map { $0.map(Self.describe) } }
        try await Task.sleep(for: .milliseconds(50))
        for n in 1...3 { events.yield(Self.message("a", n), wake: false) }
        // Not woken by deferred frames: the consumer is still waiting 100 ms later.
        try await Task.sleep(for: .milliseconds(100))
        #expect(events.bufferedCount == 3)
        events.flush()
        // Woken with the oldest; the rest of the read comes in the same batch.
        #expect(await waiting.value == ["a:1", "a:2", "a:3"])

        // A waking event after deferred ones hands out the oldest first, never jumps the queue.
        let next = Task { await events.nextBatch().map { $0.map(Self.describe) } }
        try await Task.sleep(for: .milliseconds(50))
        events.yield(Self.message("b", 4), wake: false)
        events.yield(.lifecycle(.resumed(stream: "b")))
        let batch = try #require(await next.value)
        var rest: [String] = []
        if batch.count < 2, let more = await events.nextBatch() { rest = more.map(Self.describe) }
        #expect(batch + rest == ["b:4", "resumed(stream: \"b\")"])
        // Flush with nothing waiting (or nobody waiting) is harmless.
        events.flush()
        events.finish()
        #expect(await events.nextBatch() == nil)
    }

    /// ``StreamPoolEvents/drain(_:)``: a read's frames reach the consumer on the thread that
    /// calls `flush()`, before it returns; a lifecycle event is consumed without a flush; the
    /// order of each producer holds with two producing at once; `finish()` hands over the
    /// rest and ends the drain.
    @Test func drainConsumesOnTheFlushingThreadInOrder() async throws {
        let events = StreamPoolEvents(capacity: 100_000)
        let seen = Mutex<[String]>([])
        let consumer = Task { await events.drain { batch in seen.withLock { $0 += batch.map(Self.describe) } } }
        // The drain may not be installed yet: a lifecycle event is consumed either way (by
        // the drain's start, or by the task a waking event starts).
        events.yield(.lifecycle(.resumed(stream: "x")))
        try await eventually("drained", timeout: .seconds(5)) { !seen.withLock { $0 }.isEmpty }
        #expect(seen.withLock { $0 } == [#"resumed(stream: "x")"#])
        seen.withLock { $0.removeAll() }
        // Frames wait for their read's end, then are consumed by `flush()` itself.
        events.yield(Self.message("a", 1), wake: false)
        events.yield(Self.message("a", 2), wake: false)
        #expect(seen.withLock { $0 }.isEmpty)
        events.flush()
        #expect(seen.withLock { $0 } == ["a:1", "a:2"])
        // Two producers at once, each flushing every 10 frames: every frame once, each
        // producer's in its order.
        seen.withLock { $0.removeAll() }
        await withTaskGroup(of: Void.self) { group in
            for producer in ["p", "q"] {
                group.addTask {
                    for n in 0..<5_000 {
                        events.yield(Self.message(producer, n), wake: false)
                        if n % 10 == 9 { events.flush() }
                    }
                }
            }
        }
        let all = seen.withLock { $0 }
        for producer in ["p", "q"] {
            #expect(all.filter { $0.hasPrefix(producer + ":") } == (0..<5_000).map { "\(producer):\($0)" })
        }
        // Left unflushed, then finish: consumed, and the drain returns.
        events.yield(Self.message("z", 9), wake: false)
        events.finish()
        await consumer.value
        #expect(seen.withLock { $0 }.last == "z:9")
    }
}

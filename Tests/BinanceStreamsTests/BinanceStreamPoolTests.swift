import BinanceSimulator
import BridgeCore
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import TestSupport
@testable import BinanceStreams

/// The pool driving real sockets against the simulator on loopback.
@Suite("Stream pool against the simulator", .timeLimit(.minutes(2)))
struct BinanceStreamPoolTests {
    static let logger = Logger(label: "pool-test")

    /// Collects a pool's events in the background.
    final class Collector: Sendable {
        final class Box: Sendable {
            /// `order` tags every event in arrival order: `m:<stream>:<connection>` for a
            /// message, `l:<index into lifecycle>` for a lifecycle event.
            let state = Mutex<(messages: [StreamMessage], lifecycle: [StreamPoolLifecycleEvent], dropped: Int, order: [String])>(([], [], 0, []))
        }
        let box = Box()
        let task: Task<Void, Never>

        init(_ pool: BinanceStreamPool) {
            let box = self.box
            task = Task {
                for await event in pool.events {
                    box.state.withLock { state in
                        switch event {
                        case .message(let message):
                            state.messages.append(message)
                            state.order.append("m:\(message.stream):\(message.connection)")
                        case .lifecycle(let event):
                            state.order.append("l:\(state.lifecycle.count)")
                            state.lifecycle.append(event)
                        case .dropped(_, let count): state.dropped += count
                        }
                    }
                }
            }
        }

        var messages: [StreamMessage] { box.state.withLock { $0.messages } }
        var lifecycle: [StreamPoolLifecycleEvent] { box.state.withLock { $0.lifecycle } }
        var order: [String] { box.state.withLock { $0.order } }
        func messages(of stream: String) -> Int { box.state.withLock { $0.messages.filter { $0.stream == stream }.count } }
    }

    /// Runs `body` with a started pool on the simulator's `market`, then closes it.
    static func withPool(
        _ simulator: BinanceSimulator, market: BinanceMarket = .usdm, scheme: String = "ws", connection: BinanceConnectionSettings? = nil,
        _ change: (inout StreamPoolConfiguration) -> Void = { _ in },
        _ body: (BinanceStreamPool, Collector) async throws -> Void
    ) async throws {
        var configuration = StreamPoolConfiguration()
        change(&configuration)
        let port = market == .usdm ? simulator.ports.usdm : simulator.ports.coinm
        let endpoint = BinanceEndpoint(market: market, webSocketBase: "\(scheme)://127.0.0.1:\(port)", restBase: "http://127.0.0.1:\(port)")
        let pool = BinanceStreamPool(endpoint: endpoint, configuration: configuration, connection: connection, logger: logger)
        let collector = Collector(pool)
        let driver = Task { await pool.run() }
        do {
            try await body(pool, collector)
        } catch {
            pool.close()
            await driver.value
            throw error
        }
        pool.close()
        await driver.value
        await collector.task.value
        #expect(pool.isClosed)
    }

    static func eventually(_ what: Comment, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        try await TestSupport.eventually(what, timeout: timeout, condition)
    }

    static func simulator(_ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.rate = 200
        configuration.instruments = SimInstrument.defaults.filter { ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"].contains($0.symbol) }
        change(&configuration)
        return configuration
    }

    @Test func fourThousandStreamsOnTwentyConnectionsWithinBinancesLimits() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator) { pool, collector in
                let names = (0..<4_000).map { "s\($0)usdt@aggTrade" }
                let start = ContinuousClock.now
                let result = try pool.subscribe(names)
                #expect(result.added.count == 4_000 && result.total == 4_000)
                #expect(throws: StreamPoolError.self) { _ = try pool.subscribe(["onemoreusdt@aggTrade"]) }
                #expect(pool.subscriptionCount == 4_000)
                try await Self.eventually("all confirmed") { pool.subscriptions.allSatisfy { $0.state == "confirmed" } }
                let elapsed = ContinuousClock.now - start
                print("4,000 streams confirmed on 20 connections in \(elapsed)")
                let status = try await simulator.status()
                #expect(status.connections.count == 20)
                #expect(status.connections.allSatisfy { $0.streams.count == 200 })
                #expect(Set(pool.subscriptions.map(\.connection)).count == 20)
                #expect(pool.connectionCount == 20)
                // Nobody was closed for too many requests or subscriptions.
                #expect(!collector.lifecycle.contains { if case .connectionClosed = $0 { true } else { false } })
                #expect(elapsed < .seconds(30))
            }
        }
    }

    @Test func routesSplitAndDataFlowsWithReceiveTimes() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator) { pool, collector in
                let result = try pool.subscribe(["btcusdt@aggTrade", "btcusdt@bookTicker", "ethusdt@depth@100ms", "btcusdt@aggTrade"])
                #expect(result.added == ["btcusdt@aggTrade", "btcusdt@bookTicker", "ethusdt@depth@100ms"])
                #expect(result.already.isEmpty || result.already == ["btcusdt@aggTrade"])
                try await Self.eventually("data on every stream") {
                    ["btcusdt@aggTrade", "btcusdt@bookTicker", "ethusdt@depth@100ms"].allSatisfy { collector.messages(of: $0) > 2 }
                }
                let status = try await simulator.status()
                #expect(Set(status.connections.map(\.route)) == [.public, .market])
                let market = try #require(status.connections.first { $0.route == .market })
                #expect(market.streams == ["btcusdt@aggTrade"])
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                #expect(collector.messages.allSatisfy { abs($0.receiveTimeMicroseconds - now) < 60_000_000 })
                // With everything confirmed and data flowing, the timer loop sleeps until its
                // next deadline (seconds away): it must not spin.
                let wakeups = pool.driverWakeupCount
                try await Task.sleep(for: .seconds(1))
                #expect(pool.driverWakeupCount - wakeups < 20, "\(pool.driverWakeupCount - wakeups) wake-ups in 1 s")
                let removed = try pool.unsubscribe(["btcusdt@aggTrade", "never@aggTrade".replacingOccurrences(of: "never", with: "solusdt")])
                #expect(removed.removed == ["btcusdt@aggTrade"] && removed.absent == ["solusdt@aggTrade"] && removed.total == 2)
            }
        }
    }

    @Test func droppedConnectionsReconnectResubscribeAndReportTheGap() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator) { pool, collector in
                _ = try pool.subscribe(["btcusdt@aggTrade", "btcusdt@bookTicker"])
                try await Self.eventually("confirmed and flowing") {
                    pool.subscriptions.allSatisfy { $0.state == "confirmed" } && collector.messages(of: "btcusdt@bookTicker") > 2
                }
                #expect(try await simulator.inject(.drop(.all)).affected == 2)
                try await Self.eventually("both reconnected") {
                    collector.lifecycle.filter { if case .reconnected = $0 { true } else { false } }.count == 2
                }
                for event in collector.lifecycle {
                    guard case .reconnected(_, let streams, let start, let end) = event else { continue }
                    #expect(streams.count == 1)
                    #expect(start < end)
                }
                #expect(collector.lifecycle.contains(.failed(stream: "btcusdt@aggTrade", reason: "connection lost: dropped")))
                try await Self.eventually("reconfirmed") { pool.subscriptions.allSatisfy { $0.state == "confirmed" } }
                let before = collector.messages(of: "btcusdt@aggTrade")
                try await Self.eventually("data again") { collector.messages(of: "btcusdt@aggTrade") > before + 2 }
            }
        }
    }

    @Test func unansweredSubscriptionsAreRetriedThenFailedAndBadFramesAreSkipped() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, {
                $0.ackTimeout = .milliseconds(300)
                $0.ackRetries = 1
            }) { pool, collector in
                _ = try pool.subscribe(["btcusdt@bookTicker"])
                try await Self.eventually("confirmed") { pool.subscriptions.first?.state == "confirmed" }
                try await simulator.inject(.badFrame(.all, .malformed, bytes: 1))
                try await simulator.inject(.badFrame(.all, .truncated, bytes: 1))
                try await Self.eventually("bad frames counted") { pool.unrecognizedFrameCount == 2 }
                let flowing = collector.messages(of: "btcusdt@bookTicker")
                try await Self.eventually("data continues") { collector.messages(of: "btcusdt@bookTicker") > flowing + 2 }
                // The exchange stops reading: the next SUBSCRIBE is never acknowledged.
                try await simulator.inject(.ignorePings(.all, seconds: nil))
                try await simulator.inject(.stallConnection(.all, seconds: 5))
                _ = try pool.subscribe(["ethusdt@bookTicker"])
                try await Self.eventually("failed after the retry") {
                    pool.subscriptions.first { $0.stream == "ethusdt@bookTicker" }?.state == "failed"
                }
                try await Self.eventually("failure reported") {
                    collector.lifecycle.contains { if case .failed("ethusdt@bookTicker", _) = $0 { true } else { false } }
                }
            }
        }
    }

    @Test func aSocketWithNoFrameAtAllForTheIdleTimeoutIsReconnectedButPingsKeepAQuietOneAlive() async throws {
        // Binance-like server pings every 300 ms; our own pings far apart, so only the idle
        // rule (1.5 s without any frame) can close the socket here.
        try await withBinanceSimulator(Self.simulator { $0.pingInterval = .milliseconds(300) }) { simulator async throws in
            try await Self.withPool(simulator, {
                $0.pingInterval = .seconds(60)
                $0.idleTimeout = .milliseconds(1_500)
                $0.liveness.resubscribeAfter = .seconds(3_600)
            }) { pool, collector in
                _ = try pool.subscribe(["btcusdt@bookTicker"])
                try await Self.eventually("confirmed") { pool.subscriptions.first?.state == "confirmed" }
                // No data, but pings: alive.
                try await simulator.inject(.stallStream(market: .usdm, stream: "btcusdt@bookTicker", connection: nil, seconds: nil))
                try await Task.sleep(for: .seconds(4))
                #expect(!collector.lifecycle.contains { if case .connectionClosed = $0 { true } else { false } }, "\(collector.lifecycle)")
                // Nothing at all (a silently stalled socket): closed by the idle rule.
                let stalledAt = ContinuousClock.now
                try await simulator.inject(.stallConnection(.all, seconds: nil))
                try await Self.eventually("closed as unresponsive", timeout: .seconds(10)) {
                    collector.lifecycle.contains { if case .connectionClosed(_, let reason) = $0 { reason.contains("no frame for") } else { false } }
                }
                #expect(ContinuousClock.now - stalledAt < .seconds(6), "1.5-1.9 s expected (plus the machine's delays)")
                try await simulator.inject(.clear)
                try await Self.eventually("reconnected with a gap window") {
                    collector.lifecycle.contains { if case .reconnected = $0 { true } else { false } }
                }
            }
        }
    }

    @Test(arguments: ["stalled", "ignoring pings"])
    func aPeerThatStopsAnsweringIsReconnected(fault: String) async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, { $0.pingInterval = .milliseconds(300); $0.idleTimeout = .seconds(1) }) { pool, collector in
                _ = try pool.subscribe(["btcusdt@bookTicker"])
                try await Self.eventually("confirmed") { pool.subscriptions.first?.state == "confirmed" }
                let target = SimConnectionTarget.all
                try await simulator.inject(fault == "stalled" ? .stallConnection(target, seconds: nil) : .ignorePings(target, seconds: nil))
                // The client's ping goes unanswered: the socket is closed and a new one made.
                try await Self.eventually("closed") {
                    collector.lifecycle.contains { if case .connectionClosed(_, let reason) = $0 { reason.contains("unresponsive") } else { false } }
                }
                try await simulator.inject(.clear)
                try await Self.eventually("reconnected with a gap window") {
                    collector.lifecycle.contains { if case .reconnected = $0 { true } else { false } }
                }
                try await Self.eventually("reconfirmed") { pool.subscriptions.first?.state == "confirmed" }
                #expect(try await simulator.status().connections.count == 1)
            }
        }
    }

    @Test func aSilentStreamGoesStaleIsResubscribedAndResumes() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, {
                $0.liveness.staleMultiple = 2
                $0.liveness.minimumStaleAfter = .milliseconds(500)
                $0.liveness.resubscribeAfter = .milliseconds(700)
            }) { pool, collector in
                _ = try pool.subscribe(["btcusdt@markPrice@1s", "btcusdt@aggTrade"])
                try await Self.eventually("mark prices flow") { collector.messages(of: "btcusdt@markPrice@1s") >= 2 }
                // The socket stays open and its other stream flows: only data can show this.
                try await simulator.inject(.stallStream(market: .usdm, stream: "btcusdt@markPrice@1s", connection: nil, seconds: nil))
                try await Self.eventually("stale") {
                    collector.lifecycle.contains { if case .stale("btcusdt@markPrice@1s", let silent) = $0 { silent >= 500_000 } else { false } }
                }
                // …while the other stream of the same socket kept flowing.
                let trades = collector.messages(of: "btcusdt@aggTrade")
                try await Self.eventually("trades flow meanwhile") { collector.messages(of: "btcusdt@aggTrade") > trades }
                try await Self.eventually("resubscribed") { pool.forcedResubscriptionCount >= 1 }
                try await simulator.inject(.clear)
                try await Self.eventually("resumed") { collector.lifecycle.contains(.resumed(stream: "btcusdt@markPrice@1s")) }
                try await Self.eventually("confirmed again") { pool.subscriptions.allSatisfy { $0.state == "confirmed" } }
            }
        }
    }

    @Test func rotationBeforeTheLifetimeLosesAndDuplicatesNothing() async throws {
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent("pool-rotation-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: truth) }
        let simulator = Self.simulator {
            // Rotation at 6 s with up to 5.5 s to switch (room for a loaded machine), the old
            // socket's end at 12 s, the replacement's own rotation not before 12 s: exactly one.
            $0.lifetime = .seconds(12)
            $0.groundTruthPath = truth
        }
        let streams = ["btcusdt@aggTrade", "ethusdt@aggTrade", "btcusdt@markPrice@1s"]
        let delivered = Mutex<[StreamMessage]>([])
        let replacementID = Mutex(0)
        try await withBinanceSimulator(simulator) { simulator async throws in
            try await Self.withPool(simulator, {
                $0.connectionLifetime = .seconds(12)
                $0.rotationMargin = .seconds(6)
                $0.rotationOverlapTimeout = .milliseconds(5_500)
                // This test is about rotation alone: no liveness resubscription mid-overlap
                // (on a starved machine mark prices can look stale; that interplay is open).
                // POOL_ROTATION_RESUBSCRIBE=1 turns aggressive liveness on, to reproduce that
                // interplay (see the issue notes); off by default.
                let aggressive = ProcessInfo.processInfo.environment["POOL_ROTATION_RESUBSCRIBE"] != nil
                $0.liveness.resubscribeAfter = .seconds(aggressive ? 1 : 3_600)
                if aggressive {
                    $0.liveness.minimumStaleAfter = .milliseconds(300)
                    $0.liveness.staleMultiple = 1
                }
            }) { pool, collector in
                _ = try pool.subscribe(streams)
                try await Self.eventually("rotated") { pool.rotationCount >= 1 }
                // Keep receiving on the replacement for a while after the switch-over.
                try await Task.sleep(for: .milliseconds(1_500))
                // What was delivered first, then the exchange's record: the record then holds
                // at least everything delivered.
                let messages = collector.messages
                delivered.withLock { $0 = messages }
                try await simulator.flushGroundTruth()
                let events = collector.lifecycle
                // The replacement's id: 2, or a later one if an attempt was abandoned and retried.
                let rotation = events.compactMap { if case .rotated(1, let new, let moved) = $0 { (new, moved) } else { nil } }.first
                #expect(rotation?.1 == streams.sorted())
                let replacement = rotation?.0 ?? -1
                replacementID.withLock { $0 = replacement }
                #expect(!events.contains { if case .reconnected = $0 { true } else { false } }, "\(events)")
                #expect(!events.contains { if case .failed = $0 { true } else { false } }, "\(events)")
                #expect(pool.subscriptions.allSatisfy { $0.state == "confirmed" && $0.connection == replacement })
            }
        }
        let messages = delivered.withLock { $0 }
        try Self.expectExactlyOnce(messages, of: streams, truth: truth)
        for stream in streams {
            let sources = Set(messages.filter { $0.stream == stream }.map(\.connection))
            #expect(sources.contains(1) && sources.contains(replacementID.withLock { $0 }), "\(stream) came from both connections: \(sources)")
        }
    }

    /// Every message the exchange sent on each of `streams` (its ground-truth log at `truth`)
    /// from the first one delivered to the last one delivered, in order, once: nothing
    /// missing, nothing duplicated.
    static func expectExactlyOnce(_ messages: [StreamMessage], of streams: [String], truth: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var sent: [String: [String]] = [:]
        for line in try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let stream = object["stream"] as! String
            sent[stream, default: []].append(String(line[line.range(of: #","payload":"#)!.upperBound...].dropLast()))
        }
        for stream in streams {
            let received = messages.filter { $0.stream == stream }.map { message -> String in
                let bytes = Array(message.bytes.readableBytesView)
                guard case .data(_, let range) = bytes.withUnsafeBytes({ BinanceFrame.classify($0) }) else { return "?" }
                return String(decoding: bytes[range], as: UTF8.self)
            }
            let truthOfStream = sent[stream] ?? []
            let first = try #require(truthOfStream.firstIndex(of: received.first ?? ""), "\(stream): first delivered message not in the ground truth", sourceLocation: sourceLocation)
            let window = Array(truthOfStream[first..<min(truthOfStream.count, first + received.count)])
            // A short message on failure: Swift Testing's diff of two long arrays is quadratic.
            let mismatch = zip(window, received).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(window.count == received.count && mismatch == nil,
                    "\(stream): \(received.count) delivered (\(Set(received).count) distinct), first mismatch at \(mismatch.map(String.init) ?? "none") of \(window.count)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func aConnectionDroppedMidRotationHandsOverWithARotationGapOnlyWhereTheSequencesNeverOverlapped() async throws {
        let truth = FileManager.default.temporaryDirectory.appendingPathComponent("pool-handover-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: truth) }
        let aligned = "btcusdt@aggTrade"
        let held = "ethusdt@aggTrade"
        let delivered = Mutex<[StreamMessage]>([])
        let flowingSince = Mutex<Int64>(0)
        try await withBinanceSimulator(Self.simulator { $0.groundTruthPath = truth }) { simulator async throws in
            try await Self.withPool(simulator, {
                // Rotation 4 s after the open, with 40 s to switch and room to buffer the
                // held stream meanwhile: the test decides when the old socket dies.
                $0.connectionLifetime = .seconds(60)
                $0.rotationMargin = .seconds(56)
                $0.rotationOverlapTimeout = .seconds(40)
                $0.rotationBufferPerStream = 100_000
                $0.liveness.resubscribeAfter = .seconds(3_600)
            }) { pool, collector in
                _ = try pool.subscribe([aligned, held])
                let count = collector.messages(of: aligned)
                let since = try await holdRotationThenDropTheOldSocket(
                    simulator, held: held, aligned: aligned, alignedStall: 8, rotations: { pool.rotationCount }
                ) { collector.messages(of: aligned) > count + 3 }
                flowingSince.withLock { $0 = since }
                // Seen by the collector (which may lag the pool's counter on a loaded machine).
                func rotations() -> [Int] { collector.lifecycle.compactMap { if case .rotated(1, let new, _) = $0 { new } else { nil } } }
                try await Self.eventually("switched to the replacement") { !rotations().isEmpty }
                #expect(pool.rotationCount == 1)
                let replacement = try #require(rotations().first)
                try await Task.sleep(for: .milliseconds(500))
                delivered.withLock { $0 = collector.messages }
                try await simulator.flushGroundTruth()

                let events = collector.lifecycle
                let gaps = events.compactMap { event -> (Int, Int, [String], Int64, Int64)? in
                    if case .rotationGap(let c, let r, let s, let a, let b) = event { (c, r, s, a, b) } else { nil }
                }
                #expect(gaps.count == 1)
                #expect(gaps.first?.0 == 1 && gaps.first?.1 == replacement)
                #expect(gaps.first?.2 == [held], "only the stream without an overlap")
                if let gap = gaps.first { #expect(gap.3 < gap.4) }
                #expect(!events.contains { if case .reconnected = $0 { true } else { false } }, "\(events)")
                #expect(!events.contains { if case .failed = $0 { true } else { false } }, "\(events)")
                #expect(pool.subscriptions.allSatisfy { $0.state == "confirmed" && $0.connection == replacement })
                // The gap comes before the replacement's first frame of the held stream.
                let order = collector.order
                let gapIndex = try #require(events.firstIndex { if case .rotationGap = $0 { true } else { false } })
                let gapPosition = try #require(order.firstIndex(of: "l:\(gapIndex)"))
                let firstHeld = try #require(order.firstIndex(of: "m:\(held):\(replacement)"))
                #expect(gapPosition < firstHeld)
            }
        }
        // The aligned stream crossed the handover without a loss or a duplicate (from when it
        // flowed again after its stall).
        let since = flowingSince.withLock { $0 }
        try Self.expectExactlyOnce(delivered.withLock { $0 }.filter { $0.receiveTimeMicroseconds > since }, of: [aligned], truth: truth)
    }

    /// The rotation gaps of a pool test, as (connection, replacement, streams).
    static func rotationGaps(_ events: [StreamPoolLifecycleEvent]) -> [(Int, Int, [String])] {
        events.compactMap { if case .rotationGap(let c, let r, let s, _, _) = $0 { (c, r, s) } else { nil } }
    }

    static let aligned = "btcusdt@aggTrade"
    static let held = "ethusdt@aggTrade"

    /// A pool whose first connection rotates 4 s after it opens, held open by
    /// ``holdRotation(_:held:aligned:alignedStall:flowing:)`` (`held` never aligns,
    /// `aligned` has), then `body` with the old socket's simulator id.
    static func withHeldRotation(overlap: Duration, _ body: (BinanceSimulator, BinanceStreamPool, Collector, Int) async throws -> Void) async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, {
                $0.connectionLifetime = .seconds(60)
                $0.rotationMargin = .seconds(56)
                $0.rotationOverlapTimeout = overlap
                $0.rotationBufferPerStream = 100_000
                $0.liveness.resubscribeAfter = .seconds(3_600)
            }) { pool, collector in
                _ = try pool.subscribe([aligned, held])
                let count = collector.messages(of: aligned)
                let (old, _) = try await holdRotation(simulator, held: held, aligned: aligned, alignedStall: 8) { collector.messages(of: aligned) > count + 3 }
                try await body(simulator, pool, collector, old)
            }
        }
    }

    @Test func anOverlapTimeoutWithASubscribedReplacementSwitchesWithAGapWhereAStreamNeverAligned() async throws {
        // The overlap times out 15 s after the rotation began.
        try await Self.withHeldRotation(overlap: .seconds(15)) { simulator, pool, collector, old in
            #expect(pool.rotationCount == 0, "held until the overlap times out")
            func rotations() -> [Int] { collector.lifecycle.compactMap { if case .rotated(1, let new, _) = $0 { new } else { nil } } }
            // `rotated` and its `rotationGap` are delivered one after the other: wait for both
            // (the collector may be between them when the first shows).
            try await Self.eventually("switched at the timeout", timeout: .seconds(30)) {
                !rotations().isEmpty && !Self.rotationGaps(collector.lifecycle).isEmpty
            }
            let replacement = try #require(rotations().first)
            #expect(Self.rotationGaps(collector.lifecycle).map(\.2) == [[Self.held]], "\(collector.lifecycle)")
            #expect(!collector.lifecycle.contains { if case .reconnected = $0 { true } else { false } })
            #expect(pool.subscriptions.allSatisfy { $0.state == "confirmed" && $0.connection == replacement })
            try await Self.eventually("the old socket closed") { try await !simulator.status().connections.contains { $0.id == old } }
        }
    }

    @Test func aReplacementThatDiesMidRotationLeavesAGapOnTheStreamsAlreadySwitchedToIt() async throws {
        try await Self.withHeldRotation(overlap: .seconds(40)) { simulator, pool, collector, old in
            let replacement = try #require(try await simulator.status().connections.first { $0.id != old }?.id)
            try await simulator.inject(.drop(.connection(replacement)))
            try await Self.eventually("a rotation gap") { !Self.rotationGaps(collector.lifecycle).isEmpty }
            // The aligned stream had switched to the replacement (the old socket's frames of
            // it were dropped as duplicates): it gets the gap; the held one never had.
            #expect(Self.rotationGaps(collector.lifecycle).map(\.2) == [[Self.aligned]], "\(collector.lifecycle)")
            #expect(pool.rotationCount == 0)
            #expect(!collector.lifecycle.contains { if case .reconnected = $0 { true } else { false } })
            // The old socket carries on delivering it.
            let delivered = collector.messages.filter { $0.stream == Self.aligned && $0.connection == 1 }.count
            try await Self.eventually("the old socket delivers again") {
                collector.messages.filter { $0.stream == Self.aligned && $0.connection == 1 }.count > delivered + 3
            }
            #expect(pool.subscriptions.allSatisfy { $0.state == "confirmed" && $0.connection == 1 })
        }
    }

    @Test func overTLSWithTheSimulatorsCertificate() async throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("BinanceSimulatorTests/Fixtures")
        let certificate = fixtures.appendingPathComponent("sim-cert.pem").path
        let configuration = Self.simulator { $0.tls = SimTLS(certificatePath: certificate, keyPath: fixtures.appendingPathComponent("sim-key.pem").path) }
        try await withBinanceSimulator(configuration) { simulator async throws in
            var settings = BinanceConnectionSettings(url: "", apiKey: APIKey("never-printed"))
            settings.tls.trustRoots = .file(certificate)
            settings.serverName = "localhost"
            try await Self.withPool(simulator, scheme: "wss", connection: settings) { pool, collector in
                _ = try pool.subscribe(["btcusdt@bookTicker", "btcusdt@aggTrade"])
                try await Self.eventually("data over wss") {
                    collector.messages(of: "btcusdt@bookTicker") > 1 && collector.messages(of: "btcusdt@aggTrade") > 1
                }
                #expect(pool.subscriptions.allSatisfy { $0.state == "confirmed" })
            }
        }
    }

    @Test func anEmptiedConnectionClosesAfterTheLingerUnlessReused() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, { $0.emptyConnectionLinger = .milliseconds(600) }) { pool, _ in
                _ = try pool.subscribe(["btcusdt@aggTrade", "btcusdt@bookTicker"])
                try await Self.eventually("confirmed") { pool.subscriptions.count == 2 && pool.subscriptions.allSatisfy { $0.state == "confirmed" } }
                // Emptied and refilled within the linger: the connection stays.
                _ = try pool.unsubscribe(["btcusdt@aggTrade"])
                _ = try pool.subscribe(["ethusdt@aggTrade"])
                try await Task.sleep(for: .milliseconds(900))
                #expect(try await simulator.status().connections.count == 2)
                // Emptied for good: closed after the linger, the other route untouched.
                _ = try pool.unsubscribe(["ethusdt@aggTrade"])
                #expect(try await simulator.status().connections.count == 2)
                try await Self.eventually("closed after the linger") { try await simulator.status().connections.count == 1 }
                // The exchange may see the close a moment before the pool's socket task ends.
                try await Self.eventually("the pool drops the closed connection") { pool.connectionCount == 1 }
                #expect(try await simulator.status().connections.first?.streams == ["btcusdt@bookTicker"])
            }
        }
    }

    @Test func coinMStreamsUnrouted() async throws {
        try await withBinanceSimulator(Self.simulator()) { simulator async throws in
            try await Self.withPool(simulator, market: .coinm) { pool, collector in
                _ = try pool.subscribe(["btcusd_perp@aggTrade", "btcusd_perp@bookTicker"])
                try await Self.eventually("COIN-M data") {
                    collector.messages(of: "btcusd_perp@aggTrade") > 1 && collector.messages(of: "btcusd_perp@bookTicker") > 1
                }
                let status = try await simulator.status()
                #expect(status.connections.count == 1 && status.connections[0].market == .coinm && status.connections[0].route == .unrouted)
                #expect(throws: (any Error).self) { _ = try pool.subscribe(["btcusd_perp@compositeIndex"]) }  // USD-M only
            }
        }
    }
}

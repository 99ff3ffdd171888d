import Testing
@testable import BridgeCore

@Suite("StreamLivenessTracker")
struct StreamLivenessTrackerTests {
    typealias Tracker = StreamLivenessTracker<BinanceStreamName, FakeInstant>

    // MARK: Cadences

    @Test(arguments: [
        ("btcusdt@markPrice@1s", Duration.seconds(1)), ("btcusdt@markPrice", .seconds(3)), ("!markPrice@arr@1s", .seconds(1)),
        ("!markPrice@arr", .seconds(3)), ("btcusdt@depth@100ms", .milliseconds(100)), ("btcusdt@depth", .milliseconds(250)),
        ("btcusdt@depth@500ms", .milliseconds(500)), ("btcusdt@depth20@100ms", .milliseconds(100)), ("btcusdt@depth5", .milliseconds(250)),
        ("btcusdt@rpiDepth@500ms", .milliseconds(500)), ("btcusdt@kline_1m", .milliseconds(250)),
        ("btcusdt_perpetual@continuousKline_1h", .milliseconds(250)),
    ])
    func documentedCadences(name: String, cadence: Duration) {
        #expect(stream(name).type.documentedCadence == cadence)
        var tracker = Tracker()
        tracker.track(stream(name), at: .zero)
        #expect(tracker.expectedCadence(of: stream(name)) == cadence)
    }

    @Test func eventDrivenStreamsHaveNoDocumentedCadence() {
        for name in ["btcusdt@aggTrade", "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@forceOrder", "!ticker@arr"] {
            #expect(stream(name).type.documentedCadence == nil, "\(name)")
        }
        #expect(stream("btcusd@indexPrice@1s", .coinm).type.documentedCadence == .seconds(1))
    }

    // MARK: Stale and resumed

    @Test func documentedStreamGoesStaleAfterTheMultipleAndResumes() {
        var tracker = Tracker()
        let markPrice = stream("btcusdt@markPrice@1s")
        tracker.track(markPrice, at: .zero)
        for second in Int64(1)...5 { #expect(tracker.messageReceived(markPrice, at: .s(second)) == nil) }
        #expect(tracker.staleThreshold(of: markPrice) == .seconds(10))  // max(3 s, 10 × 1 s)
        #expect(tracker.nextDeadline == .s(15))
        #expect(tracker.poll(at: FakeInstant.s(15).justBefore).isEmpty)
        #expect(tracker.poll(at: .s(15)) == [.stale(markPrice, silentSince: .s(5))])
        #expect(tracker.isStale(markPrice))
        #expect(tracker.poll(at: .s(16)).isEmpty)  // reported once
        #expect(tracker.messageReceived(markPrice, at: .s(17)) == .resumed(markPrice, silentFor: .seconds(12)))
        #expect(!tracker.isStale(markPrice))
        #expect(tracker.nextDeadline == .s(27))
    }

    @Test func fastStreamsUseTheMinimumThreshold() {
        var tracker = Tracker()
        let depth = stream("btcusdt@depth@100ms")
        tracker.track(depth, at: .zero)
        _ = tracker.messageReceived(depth, at: .ms(100))
        #expect(tracker.staleThreshold(of: depth) == .seconds(3))  // 10 × 100 ms < 3 s
        #expect(tracker.poll(at: FakeInstant.ms(3100).justBefore).isEmpty)
        #expect(tracker.poll(at: .ms(3100)) == [.stale(depth, silentSince: .ms(100))])
    }

    @Test func aStreamThatNeverDeliversIsStaleAfterTheGrace() {
        var tracker = Tracker()
        let silent = stream("btcusdt@depth20")  // e.g. acked on the wrong route
        tracker.track(silent, at: .s(1))
        #expect(tracker.poll(at: FakeInstant.s(11).justBefore).isEmpty)
        #expect(tracker.poll(at: .s(11)) == [.stale(silent, silentSince: .s(1))])
        // An undocumented stream waits for the maximum.
        #expect(tracker.poll(at: .s(41)) == [.resubscribe(silent)])
        let trades = stream("btcusdt@aggTrade")
        tracker.untrack(silent)
        tracker.track(trades, at: .zero)
        #expect(tracker.poll(at: FakeInstant.s(600).justBefore).isEmpty)
        #expect(tracker.poll(at: .s(600)) == [.stale(trades, silentSince: .zero)])
    }

    // MARK: Force resubscribe

    @Test func staleDocumentedStreamsAreResubscribedPeriodically() {
        var tracker = Tracker()
        let kline = stream("btcusdt@kline_1m")
        tracker.track(kline, at: .zero)
        _ = tracker.messageReceived(kline, at: .s(1))
        #expect(tracker.poll(at: .s(4)) == [.stale(kline, silentSince: .s(1))])  // max(3 s, 2.5 s)
        #expect(tracker.nextDeadline == .s(34))
        #expect(tracker.poll(at: FakeInstant.s(34).justBefore).isEmpty)
        #expect(tracker.poll(at: .s(34)) == [.resubscribe(kline)])
        #expect(tracker.poll(at: FakeInstant.s(64).justBefore).isEmpty)
        #expect(tracker.poll(at: .s(64)) == [.resubscribe(kline)])
        #expect(tracker.messageReceived(kline, at: .s(65)) == .resumed(kline, silentFor: .seconds(64)))
        #expect(tracker.poll(at: .s(67)).isEmpty)
    }

    @Test func learnedStreamsAreOnlyResubscribedWhenConfigured() {
        for resubscribe in [false, true] {
            var configuration = StreamLivenessConfiguration()
            configuration.resubscribeLearnedStreams = resubscribe
            var tracker = Tracker(configuration: configuration)
            let trades = stream("btcusdt@aggTrade")
            tracker.track(trades, at: .zero)
            for second in Int64(0)...6 { _ = tracker.messageReceived(trades, at: .s(2 * second)) }
            #expect(tracker.expectedCadence(of: trades) == .seconds(2))
            #expect(tracker.poll(at: .s(32)) == [.stale(trades, silentSince: .s(12))])  // 10 × 2 s
            #expect(tracker.poll(at: .s(62)) == (resubscribe ? [.resubscribe(trades)] : []))
        }
    }

    // MARK: Learning

    @Test func learningNeedsSamplesThenFollowsTheEWMA() {
        var tracker = Tracker()
        let trades = stream("btcusdt@aggTrade")
        tracker.track(trades, at: .zero)
        _ = tracker.messageReceived(trades, at: .zero)
        for second in Int64(1)...4 { _ = tracker.messageReceived(trades, at: .s(second)) }
        #expect(tracker.expectedCadence(of: trades) == nil)  // 4 gaps < 5 samples
        #expect(tracker.staleThreshold(of: trades) == .seconds(600))
        _ = tracker.messageReceived(trades, at: .s(5))
        #expect(tracker.expectedCadence(of: trades) == .seconds(1))
        // One gap of 11 s: 0.1 × 11 + 0.9 × 1 = 2 s.
        _ = tracker.messageReceived(trades, at: .s(16))
        let learned = tracker.expectedCadence(of: trades)!
        #expect(abs(Double(learned.components.seconds) + Double(learned.components.attoseconds) * 1e-18 - 2) < 1e-9)
    }

    @Test func learnedCadenceHasAFloorAndTheThresholdACap() {
        var tracker = Tracker()
        let fast = stream("btcusdt@bookTicker"), slow = stream("btcusdt@forceOrder")
        tracker.track(fast, at: .zero)
        tracker.track(slow, at: .zero)
        for tick in Int64(0)...10 {
            _ = tracker.messageReceived(fast, at: .ms(10 * tick))
            _ = tracker.messageReceived(slow, at: .s(120 * tick))
        }
        #expect(tracker.expectedCadence(of: fast) == .milliseconds(100))
        #expect(tracker.staleThreshold(of: fast) == .seconds(3))
        #expect(tracker.expectedCadence(of: slow) == .seconds(120))
        #expect(tracker.staleThreshold(of: slow) == .seconds(600))
    }

    @Test func untrackedStreamsAreForgotten() {
        var tracker = Tracker()
        let markPrice = stream("btcusdt@markPrice")
        tracker.track(markPrice, at: .zero)
        #expect(tracker.count == 1)
        tracker.untrack(markPrice)
        #expect(tracker.count == 0)
        #expect(tracker.messageReceived(markPrice, at: .s(1)) == nil)
        #expect(tracker.poll(at: .s(10_000)).isEmpty)
        #expect(tracker.nextDeadline == nil)
    }
}

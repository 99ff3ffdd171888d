import Testing
@testable import BridgeCore

@Suite("SubscriptionRequestTracker")
struct SubscriptionRequestTrackerTests {
    typealias Tracker = SubscriptionRequestTracker<FakeInstant>
    typealias Quota = SubscriptionMessageQuota<PoolConnectionID, FakeInstant>
    static let id = PoolConnectionID(1)

    static func streams(_ count: Int, from first: Int = 0) -> [BinanceStreamName] {
        (first..<(first + count)).map { stream("s\($0)usdt@aggTrade") }
    }

    static func connectedTracker(_ configuration: StreamPoolConfiguration = StreamPoolConfiguration()) -> Tracker {
        var tracker = Tracker(connection: id, configuration: configuration)
        tracker.connectionOpened()
        return tracker
    }

    /// The request of a `.send` action, or nil.
    static func sent(_ action: Tracker.Action) -> Tracker.Request? {
        if case .send(let request) = action { request } else { nil }
    }

    // MARK: Batching and pacing

    @Test func batchesAtMaxStreamsPerRequestPacedFivePerSecond() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        let all = Self.streams(450)
        tracker.subscribe(all)
        let first = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        #expect(first == .init(id: 1, method: .subscribe, streams: Array(all[0..<200]), attempt: 1))
        #expect(tracker.nextAction(at: .zero, quota: &quota) == .waitUntil(.ms(200)))
        #expect(tracker.nextAction(at: FakeInstant.ms(200).justBefore, quota: &quota) == .waitUntil(.ms(200)))
        let second = try #require(Self.sent(tracker.nextAction(at: .ms(200), quota: &quota)))
        #expect(second == .init(id: 2, method: .subscribe, streams: Array(all[200..<400]), attempt: 1))
        #expect(tracker.nextAction(at: FakeInstant.ms(400).justBefore, quota: &quota) == .waitUntil(.ms(400)))
        let third = try #require(Self.sent(tracker.nextAction(at: .ms(400), quota: &quota)))
        #expect(third == .init(id: 3, method: .subscribe, streams: Array(all[400...]), attempt: 1))
        // Nothing left to send: wake up for the first ack deadline.
        #expect(tracker.nextAction(at: .ms(400), quota: &quota) == .waitUntil(.s(5)))
        #expect(tracker.inFlightCount == 3)
        #expect(tracker.queuedStreamCount == 0)
    }

    @Test func smallRequestsQueuedTogetherShareOneRequest() throws {
        var configuration = StreamPoolConfiguration()
        configuration.maxStreamsPerRequest = 3
        var tracker = Self.connectedTracker(configuration)
        var quota = Quota()
        tracker.subscribe(Self.streams(2))
        tracker.subscribe(Self.streams(2, from: 2))
        #expect(Self.sent(tracker.nextAction(at: .zero, quota: &quota))?.streams == Self.streams(3))
        #expect(Self.sent(tracker.nextAction(at: .s(1), quota: &quota))?.streams == Self.streams(1, from: 3))
        #expect(tracker.nextAction(at: .s(1), quota: &quota) == .waitUntil(.s(5)))
    }

    @Test func nothingIsSentWhileDisconnected() {
        var tracker = Tracker(connection: Self.id, configuration: StreamPoolConfiguration())
        var quota = Quota()
        tracker.subscribe(Self.streams(3))
        #expect(tracker.nextAction(at: .zero, quota: &quota) == .idle)
        #expect(tracker.desiredStreams == Set(Self.streams(3)))
        #expect(tracker.connectionOpened() == Self.streams(3).sorted())
        #expect(Self.sent(tracker.nextAction(at: .zero, quota: &quota))?.streams == Self.streams(3).sorted())
    }

    // MARK: Replies

    @Test func acksConfirmAndErrorsFailByID() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        tracker.subscribe(Self.streams(2))
        let first = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        tracker.subscribe(Self.streams(1, from: 2))
        let second = try #require(Self.sent(tracker.nextAction(at: .ms(200), quota: &quota)))
        // Replies arrive out of order and are matched by id.
        #expect(tracker.replyReceived(id: second.id, outcome: .error(code: 2, message: "Invalid request")) == [
            .refused(Self.streams(1, from: 2), reason: "Binance error 2: Invalid request", willRetry: false),
            .failed(Self.streams(1, from: 2), reason: "Binance error 2: Invalid request"),
        ])
        #expect(!tracker.isFullyConfirmed)
        #expect(tracker.replyReceived(id: first.id, outcome: .success) == [.confirmed(Self.streams(2))])
        #expect(tracker.confirmedStreams == Set(Self.streams(2)))
        #expect(!tracker.isFullyConfirmed)  // the third failed
        tracker.unsubscribe(Self.streams(1, from: 2))
        #expect(tracker.isFullyConfirmed)
        #expect(tracker.replyReceived(id: first.id, outcome: .success) == nil)
        #expect(tracker.replyReceived(id: 99, outcome: .success) == nil)
        // The refused stream was sent, so leaving it takes an UNSUBSCRIBE (harmless if absent).
        #expect(Self.sent(tracker.nextAction(at: .s(1), quota: &quota))?.method == .unsubscribe)
    }

    /// An error code outside Binance's request errors (0–4) is the exchange in trouble: the
    /// request waits out its ack timeout (a retry at once would spend every attempt within a
    /// second), then the same streams go again with a new id, until the retries run out;
    /// then they fail with Binance's error. A request error (code 2) fails at once (above).
    @Test func unexpectedErrorCodesAreRetriedAfterTheAckTimeoutThenFail() throws {
        var tracker = Self.connectedTracker()  // ackRetries 2: three attempts; ackTimeout 5 s
        var quota = Quota()
        let streams = Self.streams(2)
        let refusal = "Binance error -1: Internal error"
        tracker.subscribe(streams)
        var request = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        for attempt in 2...3 {
            let sentAt = Int64(attempt - 2) * 5
            #expect(tracker.replyReceived(id: request.id, outcome: .error(code: -1, message: "Internal error")) == [.refused(streams, reason: refusal, willRetry: true)])
            #expect(tracker.replyReceived(id: request.id, outcome: .success) == nil, "answered already")
            #expect(tracker.nextAction(at: .s(sentAt).advanced(by: .milliseconds(200)), quota: &quota) == .waitUntil(.s(sentAt + 5)))
            #expect(tracker.expireRequests(at: .s(sentAt + 5)) == [])
            let retry = try #require(Self.sent(tracker.nextAction(at: .s(sentAt + 5), quota: &quota)))
            #expect(retry.streams == streams && retry.method == .subscribe && retry.attempt == attempt && retry.id > request.id)
            request = retry
        }
        #expect(tracker.replyReceived(id: request.id, outcome: .error(code: -1, message: "Internal error")) == [
            .refused(streams, reason: refusal, willRetry: false), .failed(streams, reason: refusal),
        ])
        #expect(tracker.confirmedStreams.isEmpty && !tracker.isFullyConfirmed)
        // A retry that is answered confirms as usual; a refusal left to expire says why.
        var second = Self.connectedTracker()
        var secondQuota = Quota()
        second.subscribe(streams)
        let first = try #require(Self.sent(second.nextAction(at: .zero, quota: &secondQuota)))
        #expect(second.replyReceived(id: first.id, outcome: .error(code: 503, message: "busy")).map(\.count) == 1)
        _ = second.expireRequests(at: .s(5))
        let again = try #require(Self.sent(second.nextAction(at: .s(5), quota: &secondQuota)))
        #expect(second.replyReceived(id: again.id, outcome: .success) == [.confirmed(streams)])
        #expect(second.isFullyConfirmed)
        // A request error fails at once, refused without a retry.
        var third = Self.connectedTracker()
        var thirdQuota = Quota()
        third.subscribe(streams)
        let only = try #require(Self.sent(third.nextAction(at: .zero, quota: &thirdQuota)))
        #expect(third.replyReceived(id: only.id, outcome: .error(code: 2, message: "Invalid request")) == [
            .refused(streams, reason: "Binance error 2: Invalid request", willRetry: false), .failed(streams, reason: "Binance error 2: Invalid request"),
        ])
    }

    /// A refused SUBSCRIBE whose stream was unsubscribed and subscribed again meanwhile is not
    /// retried for it (the newer request is the stream's), and one unsubscribed for good is
    /// never sent again: nothing can put a stream back on the socket behind the queue.
    @Test func aRefusedRequestRetriesOnlyWhatNoNewerRequestHolds() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        let a = Self.streams(1)[0], b = Self.streams(1, from: 1)[0]
        tracker.subscribe([a, b])
        let first = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        tracker.unsubscribe([a])
        tracker.subscribe([a])  // queue: UNSUBSCRIBE a, SUBSCRIBE a
        #expect(tracker.replyReceived(id: first.id, outcome: .error(code: -1, message: "x"))?.count == 1)
        var sent: [Tracker.Request] = []
        var now = FakeInstant.ms(200)
        while now < .s(7) {
            _ = tracker.expireRequests(at: now)
            while let request = Self.sent(tracker.nextAction(at: now, quota: &quota)) {
                sent.append(request)
                _ = tracker.replyReceived(id: request.id, outcome: .success)
            }
            now = now.advanced(by: .milliseconds(100))
        }
        // UNSUBSCRIBE a, SUBSCRIBE a (the newer one, whose ack confirms a), and at the
        // refused request's deadline the retry for b only.
        #expect(sent.map(\.method) == [.unsubscribe, .subscribe, .subscribe], "\(sent)")
        #expect(sent.map(\.streams) == [[a], [a], [b]], "\(sent)")
        #expect(tracker.confirmedStreams == [a, b] && tracker.isFullyConfirmed)
        // Unsubscribed for good while refused: the retry does not bring it back.
        var other = Self.connectedTracker()
        var otherQuota = Quota()
        other.subscribe([a])
        let request = try #require(Self.sent(other.nextAction(at: .zero, quota: &otherQuota)))
        _ = other.replyReceived(id: request.id, outcome: .error(code: -1, message: "x"))
        other.unsubscribe([a])
        _ = other.expireRequests(at: .s(5))
        let next = Self.sent(other.nextAction(at: .s(5), quota: &otherQuota))
        #expect(next?.method != .subscribe, "\(String(describing: next))")
    }

    // MARK: Timeouts and retries

    @Test func unansweredRequestsAreRetriedWithNewIDsThenFailed() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        let streams = Self.streams(2)
        tracker.subscribe(streams)
        var request = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        var sentAt = FakeInstant.zero
        var seenIDs: [UInt64] = [request.id]
        for attempt in 2...3 {
            let deadline = sentAt.advanced(by: .seconds(5))
            #expect(tracker.nextTimeout == deadline)
            #expect(tracker.expireRequests(at: deadline.justBefore).isEmpty)
            #expect(tracker.inFlightCount == 1)
            #expect(tracker.expireRequests(at: deadline).isEmpty)  // retried, not failed
            #expect(tracker.inFlightCount == 0)
            request = try #require(Self.sent(tracker.nextAction(at: deadline, quota: &quota)))
            #expect(request.streams == streams && request.method == .subscribe && request.attempt == attempt)
            #expect(request.id > seenIDs.last!)
            seenIDs.append(request.id)
            sentAt = deadline
        }
        let lastDeadline = sentAt.advanced(by: .seconds(5))
        #expect(tracker.expireRequests(at: lastDeadline.justBefore).isEmpty)
        let events = tracker.expireRequests(at: lastDeadline)
        #expect(events == [.failed(streams, reason: "no reply to SUBSCRIBE within 5.0 seconds after 3 attempts")])
        #expect(tracker.nextAction(at: lastDeadline, quota: &quota) == .idle)
        // A late reply to an earlier attempt matches nothing.
        #expect(tracker.replyReceived(id: seenIDs[0], outcome: .success) == nil)
    }

    @Test func anAckAfterARetryConfirms() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        tracker.subscribe(Self.streams(1))
        _ = tracker.nextAction(at: .zero, quota: &quota)
        _ = tracker.expireRequests(at: .s(5))
        let retry = try #require(Self.sent(tracker.nextAction(at: .s(5), quota: &quota)))
        #expect(retry.attempt == 2)
        #expect(tracker.replyReceived(id: retry.id, outcome: .success) == [.confirmed(Self.streams(1))])
    }

    @Test func zeroRetriesFailsAtTheFirstTimeout() throws {
        var configuration = StreamPoolConfiguration()
        configuration.ackRetries = 0
        configuration.ackTimeout = .seconds(2)
        var tracker = Self.connectedTracker(configuration)
        var quota = Quota()
        tracker.subscribe(Self.streams(1))
        _ = tracker.nextAction(at: .zero, quota: &quota)
        #expect(tracker.expireRequests(at: FakeInstant.s(2).justBefore).isEmpty)
        #expect(tracker.expireRequests(at: .s(2)) == [
            .failed(Self.streams(1), reason: "no reply to SUBSCRIBE within 2.0 seconds after 1 attempts")
        ])
    }

    // MARK: Reconnects

    @Test func reconnectFailsThenResubscribesEverything() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        tracker.subscribe(Self.streams(3))
        let first = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        _ = tracker.replyReceived(id: first.id, outcome: .success)
        tracker.subscribe(Self.streams(1, from: 3))
        let inFlight = try #require(Self.sent(tracker.nextAction(at: .ms(200), quota: &quota)))

        let lost = tracker.connectionLost(reason: "connection lost")
        #expect(lost == [.failed(Self.streams(4).sorted(), reason: "connection lost")])
        #expect(!tracker.isConnected)
        #expect(tracker.nextAction(at: .s(1), quota: &quota) == .idle)
        #expect(tracker.replyReceived(id: inFlight.id, outcome: .success) == nil)

        #expect(tracker.connectionOpened() == Self.streams(4).sorted())
        let resubscribe = try #require(Self.sent(tracker.nextAction(at: .s(2), quota: &quota)))
        #expect(resubscribe.streams == Self.streams(4).sorted())
        #expect(resubscribe.id > inFlight.id)
        #expect(resubscribe.attempt == 1)
        #expect(tracker.replyReceived(id: resubscribe.id, outcome: .success) == [.confirmed(Self.streams(4).sorted())])
    }

    // MARK: Unsubscribe

    @Test func unsubscribingAQueuedStreamCancelsItWithoutARequest() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        tracker.subscribe(Self.streams(3))
        tracker.unsubscribe([Self.streams(3)[1]])
        let request = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        #expect(request.streams == [Self.streams(3)[0], Self.streams(3)[2]])
        #expect(tracker.nextAction(at: .s(1), quota: &quota) == .waitUntil(.s(5)))
    }

    @Test func unsubscribingASentStreamSendsUnsubscribe() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        let a = Self.streams(2)[0], b = Self.streams(2)[1]
        tracker.subscribe([a, b])
        let subscribe = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        tracker.unsubscribe([b])
        let unsubscribe = try #require(Self.sent(tracker.nextAction(at: .ms(200), quota: &quota)))
        #expect(unsubscribe.method == .unsubscribe && unsubscribe.streams == [b])
        // The SUBSCRIBE's ack now confirms only what is still wanted.
        #expect(tracker.replyReceived(id: subscribe.id, outcome: .success) == [.confirmed([a])])
        #expect(tracker.replyReceived(id: unsubscribe.id, outcome: .success) == [.unsubscribed([b])])
        #expect(tracker.desiredStreams == [a])
    }

    @Test func onlyTheLatestSubscribeDecidesAStreamsState() throws {
        var tracker = Self.connectedTracker()
        var quota = Quota()
        let a = Self.streams(1)[0]
        tracker.subscribe([a])
        let first = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        tracker.unsubscribe([a])
        tracker.subscribe([a])
        // The first SUBSCRIBE's error no longer decides: another SUBSCRIBE follows. The
        // refusal itself is still reported (counted), without a failure.
        #expect(tracker.replyReceived(id: first.id, outcome: .error(code: 3, message: "x")) == [.refused([a], reason: "Binance error 3: x", willRetry: false)])
        let unsubscribe = try #require(Self.sent(tracker.nextAction(at: .ms(200), quota: &quota)))
        let second = try #require(Self.sent(tracker.nextAction(at: .ms(400), quota: &quota)))
        #expect(unsubscribe.method == .unsubscribe && second.method == .subscribe && second.streams == [a])
        #expect(tracker.replyReceived(id: second.id, outcome: .success) == [.confirmed([a])])
    }

    @Test func unansweredUnsubscribeIsReportedAfterRetries() throws {
        var configuration = StreamPoolConfiguration()
        configuration.ackRetries = 1
        var tracker = Self.connectedTracker(configuration)
        var quota = Quota()
        let a = Self.streams(1)[0]
        tracker.subscribe([a])
        let subscribe = try #require(Self.sent(tracker.nextAction(at: .zero, quota: &quota)))
        _ = tracker.replyReceived(id: subscribe.id, outcome: .success)
        tracker.unsubscribe([a])
        _ = tracker.nextAction(at: .s(1), quota: &quota)
        #expect(tracker.expireRequests(at: .s(6)).isEmpty)
        let retry = try #require(Self.sent(tracker.nextAction(at: .s(6), quota: &quota)))
        #expect(retry.method == .unsubscribe && retry.attempt == 2)
        #expect(tracker.expireRequests(at: .s(11)) == [
            .unsubscribeFailed([a], reason: "no reply to UNSUBSCRIBE within 5.0 seconds after 2 attempts")
        ])
    }
}

import BridgeCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization
import Testing
import TestSupport
import WSClient
@testable import BinanceSimulator

/// Every fault of the in-process and admin APIs does what it says, over real loopback sockets.
@Suite("Simulator fault injection", .timeLimit(.minutes(2)))
struct SimFaultTests {
    /// Text messages received by a background client, with their arrival times.
    final class Received: Sendable {
        struct Message: Sendable {
            var text: String
            var at: ContinuousClock.Instant
        }

        private let state = Mutex<(messages: [Message], closed: Bool, closeCode: WebSocketErrorCode?)>(([], false, nil))

        func append(_ text: String) { state.withLock { $0.messages.append(Message(text: text, at: .now)) } }
        func finish(_ code: WebSocketErrorCode?) { state.withLock { $0.closed = true; $0.closeCode = code } }
        var messages: [Message] { state.withLock { $0.messages } }
        var texts: [String] { messages.map(\.text) }
        var closed: Bool { state.withLock { $0.closed } }
        var closeCode: WebSocketErrorCode? { state.withLock { $0.closeCode } }
        func count(containing needle: String) -> Int { texts.filter { $0.contains(needle) }.count }
    }

    /// Starts a client on `path` that records every text message until the server closes or
    /// the task is cancelled.
    static func client(_ port: Int, _ path: String, autoPing: Duration? = nil, received: Received, expectFailure: Bool = false) -> Task<Void, any Error> {
        Task {
            var configuration = WebSocketClientConfiguration()
            configuration.maxFrameSize = 1 << 24
            if let autoPing { configuration.autoPing = .enabled(timePeriod: autoPing) }
            do {
                let close = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)\(path)", configuration: configuration, logger: SimProtocolTests.logger) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        if case .text(let text) = message { received.append(text) }
                    }
                }
                received.finish(close?.closeCode)
            } catch {
                // A client that could not connect says why, instead of a later timeout.
                if !expectFailure && !Task.isCancelled { Issue.record("client \(path) failed: \(error)") }
                throw error
            }
        }
    }

    /// Waits (bounded) until `condition` holds (see TestSupport's `eventually`).
    static func eventually(_ what: Comment, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
        try await TestSupport.eventually(what, timeout: timeout, condition)
    }

    /// Waits until the simulator has `count` connections open; returns their ids in order.
    static func connections(_ simulator: BinanceSimulator, count: Int) async throws -> [Int] {
        try await eventually("\(count) connections") { try await simulator.status().connections.count == count }
        return try await simulator.status().connections.map(\.id)
    }

    static func configuration(_ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        SimProtocolTests.configuration { configuration in
            // Light enough that the whole suite, run in parallel on two cores, stays responsive.
            configuration.rate = 300
            configuration.instruments = SimInstrument.defaults.filter { ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"].contains($0.symbol) }
            change(&configuration)
        }
    }

    /// How a test injects its fault: in-process, or through the admin HTTP API. The same
    /// `SimExchange.apply` is behind both; the admin path adds the route, the query parsing
    /// and the JSON reply, so every effect test runs both ways.
    enum Via: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case inProcess, admin
        var testDescription: String { rawValue }
    }

    /// The fast configuration, with an admin listener when the test injects through it.
    static func configuration(_ via: Via, _ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        configuration { configuration in
            if via == .admin { configuration.adminPort = 0 }
            change(&configuration)
        }
    }

    /// Injects `fault` the way `via` says; an admin `400` is thrown as the `SimFaultError` it
    /// carries, so both ways fail alike.
    @discardableResult
    static func inject(_ simulator: BinanceSimulator, _ via: Via, _ fault: SimFault) async throws -> SimFaultOutcome {
        guard via == .admin else { return try await simulator.inject(fault) }
        let reply = try await post(try #require(simulator.ports.admin), adminPath(fault))
        guard reply.status == 200 else { throw SimFaultError(reply.json["error"] as? String ?? "HTTP \(reply.status)") }
        #expect(reply.json["ok"] as? Bool == true)
        return SimFaultOutcome(affected: try #require(reply.json["affected"] as? Int), details: try #require(reply.json["details"] as? [String]))
    }

    /// The admin route and query that ask for `fault` (docs/simulator.md), `@` sent
    /// percent-encoded as a browser or curl would.
    static func adminPath(_ fault: SimFault) -> String {
        func target(_ target: SimConnectionTarget) -> [String] {
            [target.market.map { "market=\($0.rawValue)" }, target.connection.map { "connection=\($0)" }].compactMap { $0 }
        }
        func seconds(_ value: Double?) -> [String] { value.map { ["seconds=\($0)"] } ?? [] }
        let (name, query): (String, [String]) = switch fault {
        case .drop(let t): ("drop", target(t))
        case .expire(let t): ("expire", target(t))
        case .stallConnection(let t, let s): ("stall-connection", target(t) + seconds(s))
        case .ignorePings(let t, let s): ("ignore-pings", target(t) + seconds(s))
        case .slowWrites(let t, let rate): ("slow-writes", target(t) + ["bytes_per_second=\(rate)"])
        case .badFrame(let t, let kind, let bytes): ("bad-frame", target(t) + ["kind=\(kind.rawValue)", "bytes=\(bytes)"])
        case .stallStream(let market, let stream, let connection, let s):
            ("stall-stream", ["market=\(market.rawValue)", "stream=" + stream.replacingOccurrences(of: "@", with: "%40")]
                + (connection.map { ["connection=\($0)"] } ?? []) + seconds(s))
        case .sequenceGap(let market, let symbol): ("sequence-gap", ["market=\(market.rawValue)", "symbol=\(symbol)"])
        case .refuseConnections(let s): ("refuse-connections", seconds(s))
        case .restLimit(let status, let count, let retryAfter): ("rest-limit", ["status=\(status)", "count=\(count)", "retry_after=\(retryAfter)"])
        case .stallREST(let s): ("stall-rest", seconds(s))
        case .rejectSubscriptions(let market, let count, let code): ("reject-subscriptions", (market.map { ["market=\($0.rawValue)"] } ?? []) + ["count=\(count)", "code=\(code)"])
        case .messageLimit(let perSecond, let s): ("message-limit", ["per_second=\(perSecond)"] + seconds(s))
        case .clear: ("clear", [])
        }
        return "/faults/" + name + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// The admin parser reads back exactly the fault each route was built from, for every
    /// case: what the `via: .admin` runs inject is what the in-process runs inject.
    @Test func adminRoutesParseToTheFaultTheyName() throws {
        let faults: [SimFault] = [
            .drop(.all), .drop(.connection(3)), .expire(.market(.coinm)), .stallConnection(SimConnectionTarget(market: .usdm, connection: 2), seconds: 1.5),
            .stallConnection(.all, seconds: nil), .ignorePings(.connection(1), seconds: 4), .slowWrites(.all, bytesPerSecond: 2_000),
            .badFrame(.market(.usdm), .truncated, bytes: 1_024), .stallStream(market: .coinm, stream: "btcusd_perp@depth@100ms", connection: 5, seconds: 3),
            .stallStream(market: .usdm, stream: "!bookTicker", connection: nil, seconds: nil), .sequenceGap(market: .usdm, symbol: "BTCUSDT"),
            .refuseConnections(seconds: 2.5), .restLimit(status: 418, count: 2, retryAfter: 120), .stallREST(seconds: 1), .clear,
            .rejectSubscriptions(market: .coinm, count: 2, code: -1), .rejectSubscriptions(market: nil, count: 1, code: 2), .messageLimit(perSecond: 2, seconds: 3),
        ]
        for fault in faults {
            let (path, query) = SimRESTHandler.splitQuery(Self.adminPath(fault))
            #expect(try SimAdminHandler.fault(named: String(path.dropFirst("/faults/".count)), query) == fault, "\(Self.adminPath(fault))")
        }
    }

    // MARK: Connection faults

    @Test(arguments: Via.allCases)
    func dropClosesOneConnectionWithoutACloseFrameAndSparesTheOthers(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let first = Received(), second = Received()
            let a = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", received: first)
            let ids = try await Self.connections(simulator, count: 1)
            let b = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", received: second)
            _ = try await Self.connections(simulator, count: 2)
            let outcome = try await Self.inject(simulator, via, .drop(.connection(ids[0])))
            #expect(outcome == SimFaultOutcome(affected: 1, details: [String(ids[0])]))
            try await Self.eventually("first client sees the drop") { first.closed }
            // No close frame: the client reports no close code (1006 in its terms).
            #expect(first.closeCode == nil)
            let before = second.messages.count
            try await Self.eventually("second client keeps receiving") { second.messages.count > before + 5 }
            #expect(!second.closed)
            a.cancel(); b.cancel()
        }
    }

    @Test(arguments: Via.allCases)
    func expireClosesWithGoingAway(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.coinm, "/ws/btcusd_perp@bookTicker", received: received)
            _ = try await Self.connections(simulator, count: 1)
            // Data first, so the client is past its handshake: a close frame in the same read
            // as the upgrade response was seen to leave WSClient's connect hanging.
            try await Self.eventually("data flows") { received.messages.count > 0 }
            #expect(try await Self.inject(simulator, via, .expire(.market(.usdm))).affected == 0)
            #expect(try await Self.inject(simulator, via, .expire(.market(.coinm))).affected == 1)
            try await Self.eventually("closed") { received.closed }
            #expect(received.closeCode == .goingAway)
            _ = try await task.value
        }
    }

    @Test(arguments: Via.allCases)
    func stalledConnectionGoesSilentThenResumes(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let stalled = Received(), healthy = Received()
            let a = Self.client(simulator.ports.usdm, "/public/stream?streams=btcusdt@bookTicker", received: stalled)
            let ids = try await Self.connections(simulator, count: 1)
            let b = Self.client(simulator.ports.usdm, "/public/stream?streams=btcusdt@bookTicker", received: healthy)
            _ = try await Self.connections(simulator, count: 2)
            try await Self.eventually("data flows") { stalled.messages.count > 3 }
            // The stall lasts 4 s from when it takes effect, between `injecting` and
            // `stalledAt` (seconds apart on a loaded machine): certainly stalled from
            // `stalledAt` until `injecting` + 4 s.
            let injecting = WallClock.milliseconds()
            try await Self.inject(simulator, via, .stallConnection(.connection(ids[0]), seconds: 4))
            let stalledAt = WallClock.milliseconds()
            if WallClock.milliseconds() - injecting < 3_000 {
                #expect(try await simulator.status().connections.first { $0.id == ids[0] }?.faults == ["stalled"])
            }
            try await Self.eventually("resumes after the stall") {
                try stalled.texts.contains { try Self.eventTime($0, "btcusdt@bookTicker").map { $0 > stalledAt + 4_000 } ?? false }
            }
            #expect(!stalled.closed)
            a.cancel(); b.cancel()
            // By event time (see stalledStreamIsSilentWhileItsNeighbourFlows): nothing from the
            // stalled window on the stalled socket, while the other socket got that window.
            let silent = try stalled.texts.compactMap { try Self.eventTime($0, "btcusdt@bookTicker") }
            let flowing = try healthy.texts.compactMap { try Self.eventTime($0, "btcusdt@bookTicker") }
            let windowEnd = min(stalledAt + 1_200, injecting + 3_800)
            #expect(windowEnd - stalledAt >= 400, "the injection took \(stalledAt - injecting) ms")
            #expect(!silent.contains { $0 > stalledAt && $0 < windowEnd })
            #expect(flowing.filter { $0 > stalledAt && $0 < windowEnd }.count > 3)
        }
    }

    /// A stalled socket sends no server pings either, and a ping outstanding when the stall
    /// began cannot close it (it reads no pongs); pings and their answers resume after.
    @Test(arguments: Via.allCases)
    func stalledConnectionWithholdsServerPings(via: Via) async throws {
        let configuration = Self.configuration(via) {
            $0.pingInterval = .milliseconds(200)
            // Short enough to fire within the stall if a ping outstanding at its start were
            // still judged; long enough for a client starved by a loaded machine to answer.
            $0.pongTimeout = .milliseconds(2_000)
        }
        try await withBinanceSimulator(configuration) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", received: received)
            let id = try #require(try await Self.connections(simulator, count: 1).first)
            func connection() async throws -> SimConnectionStatus { try #require(try await simulator.status().connections.first { $0.id == id }) }
            try await Self.eventually("pings answered") { try await connection().pongsAnswering >= 2 }
            let injecting = ContinuousClock.now
            try await Self.inject(simulator, via, .stallConnection(.connection(id), seconds: 3))
            let atStall = try await connection().pingsSent
            try await Task.sleep(for: .milliseconds(1_500))
            let later = try await connection()
            // Judged only while the stall certainly lasts (a loaded machine can oversleep).
            if ContinuousClock.now - injecting < .milliseconds(2_900) {
                #expect(later.pingsSent == atStall, "pings sent while stalled")
                #expect(later.faults == ["stalled"])
            }
            try await Self.eventually("pings and answers resume") {
                let now = try await connection()
                return now.pingsSent > atStall + 1 && now.pongsAnswering > later.pongsAnswering
            }
            #expect(!received.closed, "closed with \(String(describing: received.closeCode))")
            task.cancel()
        }
    }

    @Test(arguments: Via.allCases)
    func ignoredPingsMakeAPingingClientGiveUp(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            // Control: pings every 400 ms are answered, the connection lives.
            let answered = Received()
            let control = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", autoPing: .milliseconds(400), received: answered)
            _ = try await Self.connections(simulator, count: 1)
            try await Task.sleep(for: .milliseconds(1_300))
            #expect(!answered.closed)
            control.cancel()
            _ = try? await control.value
            try await Self.eventually("control gone") { try await simulator.status().connections.isEmpty }

            try await Self.inject(simulator, via, .ignorePings(.all, seconds: nil))  // nothing open yet: no-op
            let ignored = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", autoPing: .milliseconds(400), received: ignored)
            let ids = try await Self.connections(simulator, count: 1)
            #expect(try await Self.inject(simulator, via, .ignorePings(.connection(ids[0]), seconds: nil)).affected == 1)
            // The client's second ping finds the first unanswered and it closes ("Ping timeout").
            try await Self.eventually("client gives up") { ignored.closed }
            #expect(ignored.messages.count > 0)
            _ = try? await task.value
        }
    }

    @Test(arguments: Via.allCases)
    func slowWritesThrottleThenReleaseEverythingInOrder(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@depth20@100ms", received: received)
            let ids = try await Self.connections(simulator, count: 1)
            try await Self.eventually("data flows") { received.messages.count > 2 }
            try await Self.inject(simulator, via, .slowWrites(.connection(ids[0]), bytesPerSecond: 2_000))
            // Let frames written before the throttle finish arriving.
            try await Task.sleep(for: .milliseconds(300))
            let start = received.messages.count
            let from = ContinuousClock.now
            try await Task.sleep(for: .seconds(1))
            let window = ContinuousClock.now - from  // a loaded machine oversleeps
            let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
            let throttled = received.messages.dropFirst(start).reduce(0) { $0 + $1.text.utf8.count }
            // depth20 every 100 ms is ~10 frames of ~1 KB a second (~10 KB/s): at 2,000 B/s
            // only the window's credit gets through, plus one second of credit and one frame
            // in flight.
            #expect(Double(throttled) <= 2_000 * seconds + 2_000, "\(throttled) bytes in \(window) at 2,000 B/s")
            #expect(Double(throttled) < 10_000 * seconds * 0.6, "throttled well below the unthrottled rate")
            let frameSize = received.texts.last!.utf8.count
            #expect(frameSize > 500)
            try await Self.inject(simulator, via, .clear)
            let status = try await simulator.status().connections.first!
            #expect(status.faults.isEmpty)
            // Everything queued arrives, in order: u never goes backwards.
            try await Self.eventually("queue drained") { received.messages.count >= status.messagesSent }
            let finals = try received.texts.map { text in
                try #require((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["u"] as? NSNumber).int64Value
            }
            #expect(finals == finals.sorted())
            task.cancel()
        }
    }

    @Test(arguments: SimBadFrameKind.allCases, Via.allCases)
    func badFramesArriveAndTheConnectionLivesOn(kind: SimBadFrameKind, via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/public/stream?streams=btcusdt@bookTicker", received: received)
            _ = try await Self.connections(simulator, count: 1)
            try await Self.eventually("data flows") { received.messages.count > 2 }
            #expect(try await Self.inject(simulator, via, .badFrame(.all, kind, bytes: 3 << 20)).affected == 1)
            try await Self.eventually("bad frame arrives") {
                received.texts.contains { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil || $0.utf8.count >= 3 << 20 }
            }
            let bad = received.texts.first { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil || $0.utf8.count >= 3 << 20 }!
            switch kind {
            case .malformed, .truncated:
                #expect((try? JSONSerialization.jsonObject(with: Data(bad.utf8))) == nil)
                if kind == .truncated { #expect(bad.hasPrefix(#"{"stream":"btcusdt@bookTicker","data":{"e":"aggTrade""#)) }
            case .oversized:
                #expect(bad.utf8.count == 3 << 20)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(bad.utf8)) as? [String: Any])
                #expect(object["stream"] as? String == "btcusdt@bookTicker")
            }
            let after = received.messages.count
            try await Self.eventually("data continues after the bad frame") { received.messages.count > after + 3 }
            #expect(!received.closed)
            task.cancel()
        }
    }

    /// The next N valid SUBSCRIBE requests of the market get an error object and subscribe
    /// nothing; the one after is acknowledged and delivers. The other market is untouched.
    @Test(arguments: Via.allCases)
    func rejectedSubscriptionsAnswerAnErrorThenRecover(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            #expect(try await Self.inject(simulator, via, .rejectSubscriptions(market: .usdm, count: 2, code: -1)).affected == 2)
            try await SimProtocolTests.session(simulator, "/public/ws") { messages, out async throws in
                for id in 1...3 {
                    try await out.write(.text(#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":\#(id)}"#))
                    guard case .text(let reply)? = try await messages.next() else { Issue.record("no reply"); return }
                    if id < 3 {
                        #expect(reply.hasPrefix(#"{"error":{"code":-1,"msg":"Internal error"#) && reply.hasSuffix(#","id":\#(id)}"#), "\(reply)")
                        #expect(try await simulator.status().connections.first?.streams == [])
                    } else {
                        #expect(reply == #"{"result":null,"id":3}"#)
                    }
                }
                let data = try await SimProtocolTests.firstText(&messages, within: .seconds(5))
                #expect(data?.contains("\"bookTicker\"") == true)
                try await out.close(.normalClosure, reason: nil)
            }
            try await SimProtocolTests.session(simulator, "/ws", market: .coinm) { messages, out async throws in
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":["btcusd_perp@bookTicker"],"id":1}"#))
                guard case .text(let reply)? = try await messages.next() else { Issue.record("no reply"); return }
                #expect(reply == #"{"result":null,"id":1}"#)
                try await out.close(.normalClosure, reason: nil)
            }
            await #expect(throws: SimFaultError.self) { try await Self.inject(simulator, via, .rejectSubscriptions(market: nil, count: 0, code: -1)) }
        }
    }

    /// A lowered message limit closes a client that keeps to the normal one (1008 "Too many
    /// requests"), and the configured limit returns when the window ends.
    @Test(arguments: Via.allCases)
    func aLoweredMessageLimitClosesThenLapses(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            try await Self.inject(simulator, via, .messageLimit(perSecond: 2, seconds: 2))
            let started = ContinuousClock.now
            let close = try await SimProtocolTests.session(simulator, "/public/ws") { messages, out async throws in
                for id in 1...3 { try await out.write(.text(#"{"method":"LIST_SUBSCRIPTIONS","id":\#(id)}"#)) }
                while try await messages.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation && close?.reason == "Too many requests", "\(String(describing: close))")
            try await Task.sleep(until: started + .milliseconds(2_200))
            // Back to the configured 10: three requests are answered.
            try await SimProtocolTests.session(simulator, "/public/ws") { messages, out async throws in
                for id in 1...3 { try await out.write(.text(#"{"method":"LIST_SUBSCRIPTIONS","id":\#(id)}"#)) }
                for _ in 1...3 {
                    guard case .text(let reply)? = try await messages.next() else { Issue.record("closed"); return }
                    #expect(reply.hasPrefix(#"{"result":[]"#))
                }
                try await out.close(.normalClosure, reason: nil)
            }
        }
    }

    // MARK: Stream faults

    @Test(arguments: Via.allCases)
    func stalledStreamIsSilentWhileItsNeighbourFlows(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s", received: received)
            _ = try await Self.connections(simulator, count: 1)
            try await Self.eventually("trades flow") { received.count(containing: "btcusdt@aggTrade") > 3 }
            // The stall lasts 3 s from when it takes effect, somewhere between these two
            // instants (a loaded machine can put a long time between them; with 1.5 s the
            // status below was seen read after the stall had already ended).
            let injecting = WallClock.milliseconds()
            try await Self.inject(simulator, via, .stallStream(market: .usdm, stream: "btcusdt@aggTrade", connection: nil, seconds: 3))
            // Every tick run after the stall took effect has an event time after this instant
            // (event times are scheduled tick times, never later than when the tick runs).
            let stalledAt = WallClock.milliseconds()
            if WallClock.milliseconds() - injecting < 2_000 {
                #expect(try await simulator.status().stalledStreams == ["usdm:btcusdt@aggTrade"])
            }
            try await Self.eventually("trades resume") {
                try received.texts.contains { try Self.eventTime($0, "btcusdt@aggTrade").map { $0 > stalledAt + 3_000 } ?? false }
            }
            #expect(try await simulator.status().stalledStreams.isEmpty)
            task.cancel()
            // Judged by event time, not arrival time, so a slow test machine cannot blur it:
            // no trade from the stalled window (with 700 ms of slack for a late loop at the
            // end), while the mark price of the same connection kept coming.
            let trades = try received.texts.compactMap { try Self.eventTime($0, "btcusdt@aggTrade") }
            let marks = try received.texts.compactMap { try Self.eventTime($0, "btcusdt@markPrice@1s") }
            // Certainly stalled: after the injection returned, before it can have ended.
            #expect(!trades.contains { $0 > stalledAt && $0 < min(stalledAt + 1_600, injecting + 2_800) })
            #expect(trades.contains { $0 <= stalledAt } && trades.contains { $0 > stalledAt + 3_000 })
            #expect(marks.contains { $0 > stalledAt && $0 < stalledAt + 3_000 })
        }
    }

    /// `E` of a combined frame of `stream`, or nil for other streams.
    static func eventTime(_ text: String, _ stream: String) throws -> Int64? {
        guard text.hasPrefix(#"{"stream":"\#(stream)""#) else { return nil }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return ((object["data"] as? [String: Any])?["E"] as? NSNumber)?.int64Value
    }

    @Test(arguments: Via.allCases)
    func sequenceGapBreaksThePuChainExactlyOnce(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@depth@100ms", received: received)
            _ = try await Self.connections(simulator, count: 1)
            try await Self.eventually("diffs flow") { received.messages.count > 5 }
            let outcome = try await Self.inject(simulator, via, .sequenceGap(market: .usdm, symbol: "BTCUSDT"))
            #expect(outcome.details == ["btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth@500ms"])
            let before = received.messages.count
            try await Self.eventually("more diffs") { received.messages.count > before + 10 }
            task.cancel()
            var breaks: [(expected: Int64, got: Int64)] = []
            var previous: Int64?
            for text in received.texts {
                let event = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                let pu = (event["pu"] as! NSNumber).int64Value, u = (event["u"] as! NSNumber).int64Value
                if let previous, pu != previous { breaks.append((previous, pu)) }
                previous = u
            }
            #expect(breaks.count == 1, "breaks \(breaks) in \(received.texts.count) events (\(before) before the gap)")
            #expect(breaks.first.map { $0.got > $0.expected } == true)
            #expect(try await simulator.status().eventsWithheld == 1)
        }
    }

    @Test(arguments: Via.allCases)
    func unknownSymbolsAndBadValuesAreErrors(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            await #expect(throws: SimFaultError.self) { try await Self.inject(simulator, via, .sequenceGap(market: .usdm, symbol: "NOPEUSDT")) }
            await #expect(throws: SimFaultError.self) { try await Self.inject(simulator, via, .slowWrites(.all, bytesPerSecond: 0)) }
            await #expect(throws: SimFaultError.self) { try await Self.inject(simulator, via, .stallConnection(.all, seconds: -1)) }
            await #expect(throws: SimFaultError.self) { try await Self.inject(simulator, via, .stallStream(market: .usdm, stream: "no stream", connection: nil, seconds: nil)) }
        }
    }

    // MARK: Admission

    @Test(arguments: Via.allCases)
    func refusedConnectionsFailUntilTheWindowEnds(via: Via) async throws {
        try await withBinanceSimulator(Self.configuration(via)) { simulator async throws in
            // A window long enough that a loaded machine still connects inside it: a client
            // that connected after it would stream forever and never fail.
            let window = Duration.seconds(3)
            try await Self.inject(simulator, via, .refuseConnections(seconds: 3))
            let injected = ContinuousClock.now  // after the reply: the window starts when the simulator handles it
            let refused = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", received: refused, expectFailure: true)
            let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                task.cancel()
            }
            await #expect(throws: (any Error).self) { try await task.value }
            watchdog.cancel()
            #expect(refused.messages.isEmpty)
            #expect(try await simulator.status().connectionsRefused == 1)
            try await Task.sleep(until: injected + window + .milliseconds(100))
            let accepted = Received()
            let later = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker", received: accepted)
            try await Self.eventually("accepted after the window") { accepted.messages.count > 0 }
            later.cancel()
        }
    }

    @Test func handshakesOverTheAttemptLimitGet429() async throws {
        let configuration = Self.configuration {
            $0.maxConnectionAttempts = 2
            $0.connectionAttemptWindow = .seconds(60)
        }
        try await withBinanceSimulator(configuration) { simulator async throws in
            for _ in 0..<2 {
                try await SimProtocolTests.session(simulator, "/public/ws") { _, _ in }
            }
            await #expect(throws: (any Error).self) {
                try await SimProtocolTests.session(simulator, "/public/ws") { _, _ in }
            }
            // The handshake is answered 429 with Binance's error body, like REST.
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(simulator.ports.usdm)/public/ws")!)
            for (name, value) in [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")] {
                request.setValue(value, forHTTPHeaderField: name)
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            #expect((response as! HTTPURLResponse).statusCode == 429)
            #expect(String(decoding: data, as: UTF8.self).contains("-1003"))
            // REST on the same port is not a connection attempt.
            #expect(try await SimRESTTests.get(simulator.ports.usdm, "/fapi/v1/ping").status == 200)
            #expect(try await simulator.status().connectionsRefused == 2)
        }
    }

    // MARK: Admin HTTP API

    static func post(_ port: Int, _ path: String) async throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    @Test func adminAPIReportsStatusAndInjectsFaults() async throws {
        try await withBinanceSimulator(Self.configuration { $0.adminPort = 0 }) { simulator async throws in
            let admin = try #require(simulator.ports.admin)
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/public/ws/btcusdt@bookTicker/btcusdt@depth", received: received)
            let ids = try await Self.connections(simulator, count: 1)
            try await Self.eventually("data flows") { received.messages.count > 2 }

            let status = try await SimRESTTests.get(admin, "/status")
            #expect(status.status == 200)
            let body = status.json as! [String: Any]
            #expect((body["ports"] as? [String: Any])?["usdm"] as? Int == simulator.ports.usdm)
            let connections = body["connections"] as! [[String: Any]]
            #expect(connections.count == 1)
            #expect(connections[0]["id"] as? Int == ids[0])
            #expect(connections[0]["route"] as? String == "public")
            #expect(connections[0]["streams"] as? [String] == ["btcusdt@bookTicker", "btcusdt@depth"])
            for key in ["pings_sent", "pongs_answering", "pongs_unsolicited", "messages_sent", "age_ms"] { #expect(connections[0][key] is Int, "\(key)") }
            #expect((body["messages_sent"] as? Int ?? 0) > 0)

            let stall = try await Self.post(admin, "/faults/stall-stream?market=usdm&stream=btcusdt%40depth&seconds=30")
            #expect(stall.status == 200 && stall.json["ok"] as? Bool == true)
            #expect(try await simulator.status().stalledStreams == ["usdm:btcusdt@depth"])
            let gap = try await Self.post(admin, "/faults/sequence-gap?market=coinm&symbol=BTCUSD_PERP")
            #expect(gap.json["affected"] as? Int == 3)

            for (path, message) in [
                ("/faults/sequence-gap?symbol=BTCUSDT", "market is required"),
                ("/faults/bad-frame?kind=weird", "unknown kind weird"),
                ("/faults/slow-writes?connection=x&bytes_per_second=5", "connection must be an integer"),
                ("/faults/refuse-connections", "seconds is required"),
                ("/faults/explode", "unknown fault explode"),
                ("/faults/drop?market=spot", "unknown market spot"),
            ] {
                let reply = try await Self.post(admin, path)
                #expect(reply.status == 400, "\(path)")
                #expect((reply.json["error"] as? String)?.contains(message) == true, "\(path): \(reply.json)")
            }
            #expect(try await Self.post(admin, "/faults/clear").status == 200)
            #expect(try await simulator.status().stalledStreams.isEmpty)

            let expire = try await Self.post(admin, "/faults/expire?connection=\(ids[0])")
            #expect(expire.json["affected"] as? Int == 1)
            try await Self.eventually("expired") { received.closed }
            #expect(received.closeCode == .goingAway)
            _ = try? await task.value
        }
    }

    // MARK: Ground truth and replay

    @Test func groundTruthRecordsEveryMessageSentExactly() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sim-gt-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withBinanceSimulator(Self.configuration { $0.groundTruthPath = path }) { simulator async throws in
            let raw = Received(), combined = Received()
            let a = Self.client(simulator.ports.usdm, "/market/ws/btcusdt@aggTrade", received: raw)
            _ = try await Self.connections(simulator, count: 1)
            let b = Self.client(simulator.ports.usdm, "/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade", received: combined)
            let ids = try await Self.connections(simulator, count: 2)
            try await Self.eventually("trades flow") { raw.messages.count > 20 }
            try await simulator.inject(.badFrame(.connection(ids[0]), .truncated, bytes: 1))
            try await simulator.inject(.stallConnection(.all, seconds: nil))
            // Let what is in flight arrive, then compare.
            try await Task.sleep(for: .milliseconds(300))
            try await simulator.flushGroundTruth()
            a.cancel(); b.cancel()

            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            var perConnection: [Int: [String]] = [:]
            var faults = 0
            for line in lines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect((object["send_time_us"] as? NSNumber)?.int64Value ?? 0 > 1_700_000_000_000_000)
                let conns = object["conns"] as! [Int]
                if object["fault"] != nil {
                    faults += 1
                    #expect(object["fault"] as? String == "truncated" && conns == [ids[0]])
                    continue
                }
                // The payload's exact bytes: the raw connection received exactly this text.
                let stream = object["stream"] as! String
                let payload = String(line[line.range(of: #","payload":"#)!.upperBound...].dropLast())
                for id in conns {
                    perConnection[id, default: []].append(id == ids[0] ? payload : #"{"stream":"\#(stream)","data":\#(payload)}"#)
                }
            }
            #expect(faults == 1)
            // The raw connection also received the truncated frame (recorded as a fault line).
            let parsed = raw.texts.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }
            #expect(raw.texts.count == parsed.count + 1)
            #expect(perConnection[ids[0]] == parsed)
            #expect(perConnection[ids[1]] == combined.texts)
            #expect(combined.count(containing: "ethusdt@aggTrade") > 0)
        }
    }

    @Test func replaySendsACaptureByteForByteAtItsPace() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sim-replay-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let payloads = (0..<4).map { #"{"e":"aggTrade","E":\#(1_700_000_000_000 + $0 * 500),"s":"BTCUSDT","a":\#($0),"p":"1.50","q":"2","f":1,"l":1,"T":1,"m":false,  "x" : [1,{"y":"}"}]}"# }
        var capture = ""
        for (index, payload) in payloads.enumerated() {
            capture += #"{"send_time_us":\#(1_000_000 + index * 500_000),"market":"usdm","stream":"btcusdt@aggTrade","conns":[1],"payload":\#(payload)}"# + "\n"
            if index == 1 {
                capture += "not json\n\n"
                capture += #"{"send_time_us":1500001,"market":"usdm","stream":"btcusdt@aggTrade","conns":[1],"fault":"truncated","bytes":40}"# + "\n"
                capture += #"{"send_time_us":1500002,"market":"usdm","stream":"ethusdt@aggTrade","payload":{"e":"other"}}"# + "\n"
            }
        }
        try capture.write(toFile: path, atomically: true, encoding: .utf8)
        let truth = path + ".truth"
        defer { try? FileManager.default.removeItem(atPath: truth) }
        try await withBinanceSimulator(Self.configuration { $0.replayPath = path; $0.replaySpeed = 2; $0.groundTruthPath = truth }) { simulator async throws in
            let received = Received()
            let task = Self.client(simulator.ports.usdm, "/market/ws/btcusdt@aggTrade", received: received)
            try await Self.eventually("whole capture replayed") { received.messages.count == payloads.count }
            #expect(received.texts == payloads)
            // 500 ms apart in the capture, replayed at speed 2: record i is sent no earlier than
            // 250 ms × i after the first (the simulator's own send times; a late loop can only
            // delay, so this holds on a loaded machine too).
            try await simulator.flushGroundTruth()
            let sent = try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n").map { line in
                try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["send_time_us"] as? NSNumber).int64Value
            }
            #expect(sent.count == payloads.count)
            for (index, time) in sent.enumerated() {
                #expect(time - sent[0] >= Int64(index) * 250_000 - 15_000, "record \(index) sent \(time - sent[0]) µs after the first")
            }
            #expect(sent.last! - sent[0] < 5_000_000)
            let status = try await simulator.status()
            #expect(status.replayMalformedLines == 1)
            #expect(status.replayedRecords == payloads.count + 1)
            task.cancel()
        }
    }

    @Test func replayLineParserKeepsPayloadBytesAndRejectsBrokenLines() {
        func parse(_ line: String) -> SimReplay.Line {
            var bytes = Array(line.utf8)
            return bytes.withUnsafeMutableBytes { SimReplay.parse(UnsafeRawBufferPointer($0)) }
        }
        #expect(parse(#"{"recv_time_us":5,"stream":"a@b","payload":{"k":[1, "x\"]"]} }"#)
            == .record(.init(timeMicroseconds: 5, market: .usdm, stream: "a@b", payload: #"{"k":[1, "x\"]"]}"#)))
        #expect(parse(#"{"time_us":5,"market":"coinm","stream":"a@b","payload":[1,2]}"#)
            == .record(.init(timeMicroseconds: 5, market: .coinm, stream: "a@b", payload: "[1,2]")))
        #expect(parse(#"{"time_us":5,"stream":"a@b","fault":"malformed","bytes":3}"#) == .skip)
        for broken in [#"{"time_us":5,"stream":"a@b"}"#, #"{"time_us":"x","stream":"a@b","payload":1}"#, #"{"time_us":5,"market":"spot","stream":"a@b","payload":1}"#,
                       #"{"time_us":5,"stream":"a@b","payload":{"#, #"[1]"#, #"{"time_us":5,"stream":"a@b","payload":1} trailing"#,
                       String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(parse(broken) == .malformed, "\(broken)")
        }
    }

    // MARK: TLS

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test func servesWebSocketsAndRESTOverTLS() async throws {
        let certificate = Self.fixtures.appendingPathComponent("sim-cert.pem").path
        let key = Self.fixtures.appendingPathComponent("sim-key.pem").path
        let configuration = Self.configuration { $0.tls = SimTLS(certificatePath: certificate, keyPath: key) }
        try await withBinanceSimulator(configuration) { simulator async throws in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificate)
            var client = WebSocketClientConfiguration()
            client.sniHostname = "localhost"
            let first = Mutex<String?>(nil)
            try await WebSocketClient.connect(url: "wss://127.0.0.1:\(simulator.ports.usdm)/public/ws/btcusdt@bookTicker", configuration: client, tlsConfiguration: tls, logger: SimProtocolTests.logger) { inbound, _, _ in
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if case .text(let text) = message {
                        first.withLock { $0 = text }
                        return
                    }
                }
            }
            #expect(first.withLock { $0 }?.hasPrefix(#"{"e":"bookTicker""#) == true)
            // https REST with the same certificate (checked with curl, which trusts it by file).
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            curl.arguments = ["curl", "-s", "--cacert", certificate, "--resolve", "localhost:\(simulator.ports.usdm):127.0.0.1", "https://localhost:\(simulator.ports.usdm)/fapi/v1/ping"]
            let pipe = Pipe()
            curl.standardOutput = pipe
            try curl.run()
            curl.waitUntilExit()
            #expect(curl.terminationStatus == 0)
            #expect(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "{}")
        }
    }
}

import BridgeCore
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Testing
import WSClient
@testable import BinanceSimulator

/// Protocol conformance over real loopback sockets with a plain WebSocket client.
@Suite("Simulator WebSocket protocol", .timeLimit(.minutes(2)))
struct SimProtocolTests {
    static let logger = Logger(label: "sim-test")

    /// Fast settings: short limits so tests see them quickly.
    static func configuration(_ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.rate = 400
        change(&configuration)
        return configuration
    }

    /// Connects to `path` and runs `body` with a reader of text messages and the writer;
    /// returns the server's close code, if it closed.
    @discardableResult
    static func session(
        _ simulator: BinanceSimulator,
        _ path: String,
        market: BinanceMarket = .usdm,
        body: @escaping @Sendable (inout WebSocketInboundMessageStream.AsyncIterator, WebSocketOutboundWriter) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        let port = market == .usdm ? simulator.ports.usdm : simulator.ports.coinm
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = 1 << 22
        return try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)\(path)", configuration: configuration, logger: logger) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
            try await body(&messages, outbound)
        }
    }

    @Test func requestsGetBinanceReplies() async throws {
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            try await Self.session(simulator, "/public/ws") { messages, out async throws in
                func ask(_ request: String) async throws -> String {
                    try await out.write(.text(request))
                    while let message = try await messages.next() {
                        if case .text(let text) = message, text.contains("\"id\"") { return text }
                    }
                    throw CancellationError()
                }
                #expect(try await ask(#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","ethusdt@depth"],"id":1}"#) == #"{"result":null,"id":1}"#)
                #expect(try await ask(#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#) == #"{"result":["btcusdt@bookTicker","ethusdt@depth"],"id":2}"#)
                #expect(try await ask(#"{"method":"GET_PROPERTY","params":["combined"],"id":3}"#) == #"{"result":false,"id":3}"#)
                #expect(try await ask(#"{"method":"SET_PROPERTY","params":["combined",true],"id":4}"#) == #"{"result":null,"id":4}"#)
                #expect(try await ask(#"{"method":"GET_PROPERTY","params":["combined"],"id":5}"#) == #"{"result":true,"id":5}"#)
                #expect(try await ask(#"{"method":"UNSUBSCRIBE","params":["ethusdt@depth","never@trade"],"id":6}"#) == #"{"result":null,"id":6}"#)
                #expect(try await ask(#"{"method":"LIST_SUBSCRIPTIONS","id":7}"#) == #"{"result":["btcusdt@bookTicker"],"id":7}"#)
            }
        }
    }

    @Test func malformedRequestsGetBinanceErrorCodes() async throws {
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            try await Self.session(simulator, "/public/ws") { messages, out async throws in
                func error(_ request: String) async throws -> (code: Int, message: String, id: Any) {
                    try await out.write(.text(request))
                    while let message = try await messages.next() {
                        guard case .text(let text) = message, text.contains("\"error\"") else { continue }
                        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
                        let error = object["error"] as! [String: Any]
                        return ((error["code"] as! NSNumber).intValue, error["msg"] as! String, object["id"] as Any)
                    }
                    throw CancellationError()
                }
                let badJSON = try await error(#"{"method":"SUBSCRIBE","#)
                #expect(badJSON.code == 3 && badJSON.message.hasPrefix("Invalid JSON"))
                #expect(badJSON.id is NSNull)
                let unknown = try await error(#"{"method":"FLY","id":9}"#)
                #expect(unknown.code == 2 && unknown.message.contains("unknown variant `FLY`"))
                #expect((unknown.id as? NSNumber)?.intValue == 9)
                #expect(try await error(#"{"method":"SUBSCRIBE","params":["a@b"],"id":"x"}"#).code == 2)
                #expect(try await error(#"{"method":"SUBSCRIBE","params":["a@b"],"id":-1}"#).message.contains("unsigned integer"))
                #expect(try await error(#"{"params":[],"id":1}"#).message.contains("missing field `method`"))
                let badName = try await error(#"{"method":"SUBSCRIBE","params":["btc usdt@trade"],"id":2}"#)
                #expect(badName.code == 2 && badName.message.contains("invalid stream name"))
                #expect(try await error(#"{"method":"SUBSCRIBE","params":[42],"id":3}"#).code == 2)
                #expect(try await error(#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":4}"#).code == 1)
                #expect(try await error(#"{"method":"SET_PROPERTY","params":["colour",true],"id":5}"#).code == 0)
                #expect(try await error(#"{"method":"GET_PROPERTY","params":[1],"id":6}"#).code == 2)
            }
        }
    }

    @Test func rawAndCombinedFraming() async throws {
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            try await Self.session(simulator, "/market/ws/btcusdt@aggTrade") { messages, _ async throws in
                guard case .text(let text)? = try await messages.next() else { Issue.record("no frame"); return }
                let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
                #expect(object["e"] as? String == "aggTrade" && object["s"] as? String == "BTCUSDT")
                #expect((object["p"] as? String)?.split(separator: ".").last?.count == 2)
                #expect((object["q"] as? String)?.split(separator: ".").last?.count == 3)
                #expect(object["m"] is Bool && object["a"] is NSNumber && object["T"] is NSNumber)
            }
            try await Self.session(simulator, "/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade") { messages, _ async throws in
                var seen: Set<String> = []
                while seen.count < 2, case .text(let text)? = try await messages.next() {
                    let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
                    let stream = object["stream"] as! String
                    let data = object["data"] as! [String: Any]
                    #expect(data["s"] as? String == stream.split(separator: "@")[0].uppercased())
                    seen.insert(stream)
                }
                #expect(seen == ["btcusdt@aggTrade", "ethusdt@aggTrade"])
            }
            try await Self.session(simulator, "/stream?streams=!markPrice@arr@1s", market: .coinm) { messages, _ async throws in
                guard case .text(let text)? = try await messages.next() else { Issue.record("no frame"); return }
                let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
                let rows = object["data"] as! [[String: Any]]
                #expect(Set(rows.map { $0["s"] as! String }) == ["BTCUSD_PERP", "ETHUSD_PERP", "BTCUSD_261225"])
                let delivery = rows.first { $0["s"] as? String == "BTCUSD_261225" }!
                #expect(delivery["r"] as? String == "" && (delivery["T"] as? NSNumber)?.intValue == 0)
            }
        }
    }

    @Test func streamLimitAnswersError4AndCloses() async throws {
        try await withBinanceSimulator(Self.configuration { $0.maxStreamsPerConnection = 5 }) { simulator async throws in
            let close = try await Self.session(simulator, "/public/ws") { messages, out async throws in
                let names = (0..<6).map { "\"s\($0)@bookTicker\"" }.joined(separator: ",")
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":[\#(names)],"id":1}"#))
                guard case .text(let text)? = try await messages.next() else { Issue.record("no reply"); return }
                #expect(text == #"{"error":{"code":4,"msg":"Too many subscriptions"},"id":1}"#)
                while try await messages.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation)
        }
    }

    /// At Binance's (and the default) 200: 200 streams over two requests are accepted and
    /// listed, the 201st is error 4 and a 1008 close.
    @Test func defaultStreamLimitIs200AcrossRequests() async throws {
        #expect(SimulatorConfiguration().maxStreamsPerConnection == 200)
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            let close = try await Self.session(simulator, "/public/ws") { messages, out async throws in
                func names(_ range: Range<Int>) -> String { range.map { "\"s\($0)@bookTicker\"" }.joined(separator: ",") }
                func reply() async throws -> String {
                    // Data of accepted streams may come first: unknown symbols send none.
                    guard case .text(let text)? = try await messages.next() else { Issue.record("no reply"); return "" }
                    return text
                }
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":[\#(names(0..<150))],"id":1}"#))
                #expect(try await reply() == #"{"result":null,"id":1}"#)
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":[\#(names(150..<200))],"id":2}"#))
                #expect(try await reply() == #"{"result":null,"id":2}"#)
                try await out.write(.text(#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#))
                let list = try JSONSerialization.jsonObject(with: Data(try await reply().utf8)) as? [String: Any]
                #expect((list?["result"] as? [String])?.count == 200)
                #expect(try await simulator.status().connections.first?.streams.count == 200)
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":["s200@bookTicker"],"id":4}"#))
                #expect(try await reply() == #"{"error":{"code":4,"msg":"Too many subscriptions"},"id":4}"#)
                while try await messages.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation)
        }
    }

    /// Unsolicited pongs are accepted (no reply, no close) but, as on Binance, do not answer a
    /// server ping: a client that only sends them is closed at the pong deadline. Each is
    /// counted apart from pongs that echo a ping.
    @Test func unsolicitedPongsAreAcceptedButDoNotAnswerPings() async throws {
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            // Pings every 3 minutes: none during this part.
            try await Self.session(simulator, "/public/ws") { messages, out async throws in
                for _ in 0..<3 { try await out.write(.custom(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer()))) }
                try await out.write(.text(#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#))
                guard case .text(let text)? = try await messages.next() else { Issue.record("no reply"); return }
                #expect(text == #"{"result":[],"id":1}"#)
                let connection = try #require(try await simulator.status().connections.first)
                #expect(connection.pongsUnsolicited == 3 && connection.pongsAnswering == 0 && connection.pingsSent == 0)
                try await out.close(.normalClosure, reason: nil)
            }
        }
        let configuration = Self.configuration {
            $0.pingInterval = .milliseconds(300)
            $0.pongTimeout = .milliseconds(2_000)
        }
        try await withBinanceSimulator(configuration) { simulator async throws in
            let started = ContinuousClock.now
            let close = try await Self.session(simulator, "/public/ws") { messages, out async throws in
                // Not reading, so the client's automatic pong never answers a ping; an empty
                // pong every 250 ms (4 a second, under the limit) instead, for 5 s.
                for _ in 0..<20 {
                    do { try await out.write(.custom(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer()))) } catch { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                while try await messages.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation && close?.reason == "pong timeout", "\(String(describing: close))")
            #expect(started.duration(to: .now) < .seconds(15))
        }
    }

    @Test func tooManyMessagesPerSecondCloses() async throws {
        try await withBinanceSimulator(Self.configuration()) { simulator async throws in
            let close = try await Self.session(simulator, "/public/ws") { messages, out async throws in
                for id in 1...11 { try await out.write(.text(#"{"method":"LIST_SUBSCRIPTIONS","id":\#(id)}"#)) }
                var replies = 0
                while case .text? = try await messages.next() { replies += 1 }
                #expect(replies == 10)
            }
            #expect(close?.closeCode == .policyViolation)
            #expect(close?.reason == "Too many requests")
        }
    }

    @Test func connectionLifetimeExpires() async throws {
        try await withBinanceSimulator(Self.configuration { $0.lifetime = .milliseconds(800) }) { simulator async throws in
            let started = ContinuousClock.now
            let close = try await Self.session(simulator, "/public/ws/btcusdt@bookTicker") { messages, _ async throws in
                while try await messages.next() != nil {}
            }
            let elapsed = started.duration(to: .now)
            #expect(close?.closeCode == .goingAway)
            #expect(elapsed >= .milliseconds(700) && elapsed < .seconds(5), "\(elapsed)")
        }
    }

    @Test func missedPongClosesAndAnsweredPingsKeepTheConnection() async throws {
        // A 6 s deadline: a reading client answers within it even when parallel tests starve
        // its task for seconds on a 2-core machine (2.5 s was seen missed in a full CI run).
        let configuration = Self.configuration {
            $0.pingInterval = .milliseconds(300)
            $0.pongTimeout = .milliseconds(6_000)
        }
        try await withBinanceSimulator(configuration) { simulator async throws in
            // A client that keeps reading answers pings (WSClient does it while iterating).
            let alive = try await Self.session(simulator, "/public/ws/btcusdt@bookTicker") { messages, out async throws in
                // bookTicker flows continuously, so this loop keeps iterating (and answering pings).
                let started = ContinuousClock.now
                while started.duration(to: .now) < .milliseconds(3_000) {
                    guard try await messages.next() != nil else { Issue.record("closed while answering pings"); return }
                }
                try await out.close(.normalClosure, reason: nil)
            }
            #expect(alive?.closeCode != .policyViolation)
            // A client that stops reading never answers: closed after the pong deadline.
            let started = ContinuousClock.now
            let close = try await Self.session(simulator, "/public/ws") { messages, _ async throws in
                try await Task.sleep(for: .milliseconds(7_000))
                while try await messages.next() != nil {}
            }
            #expect(close?.closeCode == .policyViolation && close?.reason == "pong timeout")
            #expect(started.duration(to: .now) < .seconds(15))
        }
    }

    @Test func wrongRouteIsAcknowledgedThenSilent() async throws {
        try await withBinanceSimulator(Self.configuration { $0.silentWrongRoute = true }) { simulator async throws in
            try await Self.session(simulator, "/market/ws") { messages, out async throws in
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}"#))
                guard case .text(let ack)? = try await messages.next() else { return }
                #expect(ack == #"{"result":null,"id":1}"#)
                let silence = try await Self.firstText(&messages, within: .milliseconds(800))
                #expect(silence == nil, "wrong-route stream delivered: \(silence ?? "")")
                try await out.close(.normalClosure, reason: nil)
            }
            try await Self.session(simulator, "/public/ws") { messages, out async throws in
                try await out.write(.text(#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}"#))
                _ = try await messages.next()
                let data = try await Self.firstText(&messages, within: .seconds(2))
                #expect(data?.contains("\"bookTicker\"") == true)
                try await out.close(.normalClosure, reason: nil)
            }
        }
    }

    /// The next text message, or nil after `timeout`.
    static func firstText(_ messages: inout WebSocketInboundMessageStream.AsyncIterator, within timeout: Duration) async throws -> String? {
        let box = UncheckedBox(messages)
        let result = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                if case .text(let text)? = try? await box.value.next() { return text }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        messages = box.value
        return result
    }
}

/// Moves a non-Sendable iterator into one child task at a time (the test awaits it).
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

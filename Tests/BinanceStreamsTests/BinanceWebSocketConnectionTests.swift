import BinanceSimulator
import BridgeCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport
@testable import BinanceStreams

/// The connection primitive against the simulator over real loopback sockets.
@Suite("Binance WebSocket connection", .timeLimit(.minutes(1)))
struct BinanceWebSocketConnectionTests {
    static let logger = Logger(label: "connection-test")

    static func simulatorConfiguration(_ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.rate = 300
        configuration.instruments = SimInstrument.defaults.filter { ["BTCUSDT", "BTCUSD_PERP"].contains($0.symbol) }
        change(&configuration)
        return configuration
    }

    static func settings(_ url: String, _ transport: BinanceTransport) -> BinanceConnectionSettings {
        var settings = BinanceConnectionSettings(url: url)
        settings.transport = transport
        return settings
    }

    /// Frames seen by a connection, classified.
    final class Seen: Sendable {
        let frames = Mutex<[(BinanceFrame, String)]>([])
        func add(_ message: BinanceReceivedMessage) {
            let frame = message.frame
            let text = String(buffer: message.bytes)
            frames.withLock { $0.append((frame, text)) }
        }
        var dataStreams: [String] {
            frames.withLock { $0.compactMap { if case .data(let stream, _) = $0.0 { stream } else { nil } } }
        }
        var replies: [BinanceFrame] {
            frames.withLock { $0.compactMap { if case .data = $0.0 { nil } else { $0.0 } } }
        }
    }

    @Test(arguments: BinanceTransport.allCases)
    func subscribesReadsDataAndRepliesAndReportsTheServersClose(transport: BinanceTransport) async throws {
        try await withBinanceSimulator(Self.simulatorConfiguration()) { simulator async throws in
            let endpoint = BinanceEndpoint(market: .usdm, webSocketBase: "ws://127.0.0.1:\(simulator.ports.usdm)", restBase: "")
            let seen = Seen()
            let task = Task {
                try await BinanceConnection.run(Self.settings(endpoint.combinedStreamURL(route: .market), transport), logger: Self.logger) { writer in
                    try await writer.send(#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@markPrice@1s"],"id":1}"#)
                    try await writer.send(#"{"method":"FLY","id":2}"#)
                } onMessage: { seen.add($0) }
            }
            try await eventually("data and both replies") { seen.dataStreams.contains("btcusdt@aggTrade") && seen.replies.count >= 2 }
            #expect(seen.replies.first.map { if case .result(1, _) = $0 { true } else { false } } == true)
            #expect(seen.replies.dropFirst().first.map { if case .error(2, 2, let message) = $0 { message.contains("FLY") } else { false } } == true)
            // Payload bytes are intact: each data range parses as the stream's event.
            let texts = seen.frames.withLock { $0.compactMap { frame, text -> String? in
                guard case .data(_, let range) = frame else { return nil }
                return String(decoding: Array(text.utf8)[range], as: UTF8.self)
            } }
            for payload in texts.prefix(20) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
                #expect(["aggTrade", "markPriceUpdate"].contains(object["e"] as? String ?? ""))
            }
            try await simulator.inject(.expire(.all))
            #expect(try await task.value == .closedByServer(code: 1001, reason: "connection lifetime expired"))
        }
    }

    @Test(arguments: BinanceTransport.allCases)
    func aDropIsReportedAsDropped(transport: BinanceTransport) async throws {
        try await withBinanceSimulator(Self.simulatorConfiguration()) { simulator async throws in
            let seen = Seen()
            let task = Task {
                try await BinanceConnection.run(Self.settings("ws://127.0.0.1:\(simulator.ports.coinm)/stream?streams=btcusd_perp@bookTicker", transport), logger: Self.logger) { _ in
                } onMessage: { seen.add($0) }
            }
            try await eventually("data") { seen.dataStreams.count > 3 }
            try await simulator.inject(.drop(.all))
            #expect(try await task.value == .dropped)
        }
    }

    @Test(arguments: BinanceTransport.allCases)
    func refusedAndSilentServersFailWithinTheConnectTimeout(transport: BinanceTransport) async throws {
        // Nothing listens on loopback port 1: refused at once. (A port freed a moment ago
        // was seen taken again by a test running in parallel.)
        let group = MultiThreadedEventLoopGroup.singleton
        await #expect(throws: BinanceStreamsError.self) {
            _ = try await BinanceConnection.run(Self.settings("ws://127.0.0.1:1/stream", transport), logger: Self.logger) { _ in } onMessage: { _ in }
        }
        // Accepts TCP and never answers the upgrade: the connect timeout ends it.
        let silent = try await ServerBootstrap(group: group).childChannelInitializer { _ in group.next().makeSucceededVoidFuture() }.bind(host: "127.0.0.1", port: 0).get()
        var settings = Self.settings("ws://127.0.0.1:\(silent.localAddress!.port!)/stream", transport)
        settings.connectTimeout = .milliseconds(300)
        let start = ContinuousClock.now
        do {
            _ = try await BinanceConnection.run(settings, logger: Self.logger) { _ in } onMessage: { _ in }
            Issue.record("connected to a silent server")
        } catch let error as BinanceStreamsError {
            #expect(error.code == .connectTimeout)
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        try await silent.close()
    }

    @Test(arguments: BinanceTransport.allCases)
    func tlsAgainstTheSimulatorsCertificateAndARedactedKey(transport: BinanceTransport) async throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("BinanceSimulatorTests/Fixtures")
        let certificate = fixtures.appendingPathComponent("sim-cert.pem").path
        let configuration = Self.simulatorConfiguration {
            $0.tls = SimTLS(certificatePath: certificate, keyPath: fixtures.appendingPathComponent("sim-key.pem").path)
        }
        try await withBinanceSimulator(configuration) { simulator async throws in
            var settings = Self.settings("wss://127.0.0.1:\(simulator.ports.usdm)/public/stream?streams=btcusdt@bookTicker", transport)
            settings.apiKey = APIKey("sekrit-key-123")
            settings.tls.trustRoots = .file(certificate)
            settings.serverName = "localhost"
            #expect(!"\(settings)".contains("sekrit") && !String(reflecting: settings).contains("sekrit"))
            let seen = Seen()
            let trusted = settings
            let task = Task {
                try await BinanceConnection.run(trusted, logger: Self.logger) { _ in } onMessage: { seen.add($0) }
            }
            try await eventually("data over TLS") { seen.dataStreams.contains("btcusdt@bookTicker") }
            task.cancel()
            _ = try? await task.value

            // Without trusting the certificate the handshake fails: the system store is used.
            var untrusted = settings
            untrusted.tls = .makeClientConfiguration()
            await #expect(throws: BinanceStreamsError.self) {
                _ = try await BinanceConnection.run(untrusted, logger: Self.logger) { _ in } onMessage: { _ in }
            }
        }
    }
}

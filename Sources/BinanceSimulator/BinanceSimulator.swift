import BridgeCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// The bound ports of a running simulator.
public struct SimulatorPorts: Sendable, Equatable, Codable {
    public var usdm: Int
    public var coinm: Int
    /// The admin API's port, when one was configured.
    public var admin: Int?
}

/// A Binance USD-M / COIN-M futures market-data exchange on loopback: WebSocket streams and
/// REST on one port per market, deterministic from a seed.
///
/// Everything runs on one event loop (feeds, connections, REST), which keeps the exchange's
/// state consistent without locks: a REST depth snapshot and the diff streams describe the
/// same book at the same update id.
///
/// ```swift
/// let simulator = try await BinanceSimulator.start(configuration)
/// // ws://127.0.0.1:\(simulator.ports.usdm)/public/stream …
/// await simulator.stop()
/// ```
public final class BinanceSimulator: Sendable {
    public let configuration: SimulatorConfiguration
    /// The bound ports (resolved when 0 was asked for).
    public let ports: SimulatorPorts
    private let group: MultiThreadedEventLoopGroup
    private let exchange: NIOLoopBound<SimExchange>
    private let channels: [any Channel]
    private let stopped = Mutex(false)

    private init(configuration: SimulatorConfiguration, ports: SimulatorPorts, group: MultiThreadedEventLoopGroup, exchange: NIOLoopBound<SimExchange>, channels: [any Channel]) {
        self.configuration = configuration
        self.ports = ports
        self.group = group
        self.exchange = exchange
        self.channels = channels
    }

    /// Binds both markets' ports (and the admin port, if configured) and starts the market
    /// clock. Throws when a port cannot be bound or a file (ground truth, replay, TLS) cannot
    /// be opened.
    public static func start(_ configuration: SimulatorConfiguration = SimulatorConfiguration()) async throws -> BinanceSimulator {
        let tls = try configuration.tls.map { tls in
            let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificatePath)
            let key = try NIOSSLPrivateKey(file: tls.keyPath, format: .pem)
            return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key)))
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        do {
            let exchange = try await loop.submit {
                let exchange = SimExchange(configuration: configuration, eventLoop: loop)
                if let path = configuration.groundTruthPath { exchange.groundTruth = try SimGroundTruth(path: path) }
                if let path = configuration.replayPath { exchange.replay = try SimReplay(path: path, speed: configuration.replaySpeed) }
                exchange.start()
                return NIOLoopBound(exchange, eventLoop: loop)
            }.get()
            var channels: [any Channel] = []
            var ports: [BinanceMarket: Int] = [:]
            for market in BinanceMarket.allCases {
                let port = market == .usdm ? configuration.usdmPort : configuration.coinmPort
                let channel = try await bind(market: market, host: configuration.host, port: port, group: group, exchange: exchange, tls: tls)
                channels.append(channel)
                ports[market] = channel.localAddress?.port ?? port
            }
            var bound = SimulatorPorts(usdm: ports[.usdm]!, coinm: ports[.coinm]!)
            if let adminPort = configuration.adminPort {
                let marketPorts = bound
                let channel = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                            try channel.pipeline.syncOperations.addHandler(SimAdminHandler(exchange: exchange.value, ports: marketPorts))
                        }
                    }
                    .bind(host: configuration.host, port: adminPort)
                    .get()
                channels.append(channel)
                bound.admin = channel.localAddress?.port ?? adminPort
            }
            return BinanceSimulator(configuration: configuration, ports: bound, group: group, exchange: exchange, channels: channels)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func bind(market: BinanceMarket, host: String, port: Int, group: MultiThreadedEventLoopGroup, exchange: NIOLoopBound<SimExchange>, tls: NIOSSLContext?) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Bound what a slow reader can make us buffer (see SimWebSocketHandler.deliver).
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 << 20, high: 64 << 20))
            .childChannelInitializer { channel in
                // One event loop: the child channel runs where the exchange lives.
                guard exchange.value.acceptsConnection() else { return channel.close() }
                let rest = SimRESTHandler(exchange: exchange.value, market: market)
                let boundREST = NIOLoopBound(rest, eventLoop: channel.eventLoop)
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20,
                    automaticErrorHandling: true,
                    shouldUpgrade: { channel, head in
                        guard SimWebSocketTarget.parse(uri: head.uri, market: market) != nil else {
                            return channel.eventLoop.makeSucceededFuture(nil)
                        }
                        guard exchange.value.admitHandshake(from: channel.remoteAddress?.ipAddress ?? "unknown") else {
                            // Not upgraded: the REST handler answers 429 and closes.
                            boundREST.value.rejectHandshake = true
                            return channel.eventLoop.makeSucceededFuture(nil)
                        }
                        return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                    },
                    upgradePipelineHandler: { channel, head in
                        channel.eventLoop.makeCompletedFuture {
                            let target = SimWebSocketTarget.parse(uri: head.uri, market: market)!
                            // Out before any frame is replayed: the REST handler speaks HTTP only.
                            channel.pipeline.syncOperations.removeHandler(name: "sim-rest", promise: nil)
                            try channel.pipeline.syncOperations.addHandler(
                                NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 20)
                            )
                            try channel.pipeline.syncOperations.addHandler(
                                SimWebSocketHandler(exchange: exchange.value, market: market, route: target.route, combined: target.combined, streams: target.streams)
                            )
                        }
                    }
                )
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                    try channel.pipeline.syncOperations.addHandler(rest, name: "sim-rest")
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Closes every connection (going away), the listeners and the event loop.
    public func stop() async {
        let first = stopped.withLock { state in
            defer { state = true }
            return !state
        }
        guard first else { return }
        let exchange = self.exchange
        try? await group.next().submit { exchange.value.stop() }.get()
        for channel in channels { try? await channel.close() }
        try? await group.shutdownGracefully()
    }

    // MARK: In-process API (tests, fault injection)

    /// Runs `body` on the exchange's event loop.
    func onExchange<T: Sendable>(_ body: @escaping @Sendable (SimExchange) -> T) async throws -> T {
        let exchange = self.exchange
        return try await group.next().submit { body(exchange.value) }.get()
    }

    /// Open WebSocket connections.
    public func connectionCount() async throws -> Int {
        try await onExchange { $0.openConnections.count }
    }

    /// Data messages written to sockets since start.
    public func messagesSent() async throws -> Int {
        try await onExchange { $0.messagesSent }
    }

    /// Injects `fault` (see ``SimFault``); the admin API's routes call the same code.
    @discardableResult
    public func inject(_ fault: SimFault) async throws -> SimFaultOutcome {
        let result: Result<SimFaultOutcome, SimFaultError> = try await onExchange { exchange in
            Result { () throws(SimFaultError) in try exchange.apply(fault) }
        }
        return try result.get()
    }

    /// The simulator's book of `symbol` right after update `updateId`, as a ``BookChecksum``
    /// (prices and quantities at canonical decimals, so any consumer's book compares); nil
    /// when the symbol is unknown or the update is older than the remembered history
    /// (``SimulatorConfiguration/bookChecksumHistory`` changes per symbol, 8,192 by default).
    public func bookChecksum(market: BinanceMarket, symbol: String, at updateId: Int64) async throws -> UInt64? {
        try await onExchange { $0.feeds[market]?.model(for: symbol)?.book.checksum(at: updateId) }
    }

    /// Connections, counters and active faults.
    public func status() async throws -> SimStatus {
        try await onExchange { $0.status() }
    }

    /// Writes buffered ground-truth lines to the file now (they are also written every tick).
    public func flushGroundTruth() async throws {
        try await onExchange { $0.groundTruth?.flush() }
    }
}

/// Runs `body` with a started simulator and stops it afterwards.
@discardableResult
public func withBinanceSimulator<Result: Sendable>(
    _ configuration: SimulatorConfiguration = SimulatorConfiguration(),
    _ body: (BinanceSimulator) async throws -> Result
) async throws -> Result {
    let simulator = try await BinanceSimulator.start(configuration)
    do {
        let result = try await body(simulator)
        await simulator.stop()
        return result
    } catch {
        await simulator.stop()
        throw error
    }
}

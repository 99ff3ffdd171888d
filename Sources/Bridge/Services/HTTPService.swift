import BinanceStreams
import BridgeCore
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// `/metrics`, `/healthz` and `/readyz` on `http.host`:`http.port` (Redis contract §5).
///
/// - `/healthz`: 200 while the process serves HTTP at all (liveness: restart it otherwise).
/// - `/readyz`: 200 when Redis answers, start-up is done (instruments loaded, desired
///   subscriptions restored) and every subscribed stream is confirmed or being retried
///   (pending, or failed only because its connection dropped and is reconnecting); 503
///   otherwise. Both answer a JSON body saying why.
/// - `/metrics`: the Prometheus registry in the text format. Gauges of connections and
///   streams by state are computed from the pools at scrape time (no work per message).
public final class HTTPService: Service, Sendable {
    private let host: String
    private let port: Int
    private let coordinator: BridgeCoordinator
    private let health: RedisHealthService
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let bound = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    public init(host: String, port: Int, coordinator: BridgeCoordinator, health: RedisHealthService, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.host = host
        self.port = port
        self.coordinator = coordinator
        self.health = health
        self.registry = registry
        self.logger = logger
    }

    /// The port the server listens on, once it does (`http.port` 0 picks a free one).
    public func boundPort() async -> Int {
        await withCheckedContinuation { continuation in
            let port = bound.withLock { state -> Int? in
                if state.port == nil { state.waiters.append(continuation) }
                return state.port
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    public func run() async throws {
        let router = Router()
        router.get("/healthz") { _, _ in
            Self.json(.ok, ["status": "ok"])
        }
        router.get("/readyz") { [self] _, _ in
            let readiness = readiness()
            return Self.json(readiness.ready ? .ok : .serviceUnavailable, readiness.body)
        }
        router.get("/metrics") { [self] _, _ in
            refreshGauges()
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text))
            )
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .notice)  // no line per scrape
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? port
                let waiters = bound.withLock { state -> [CheckedContinuation<Int, Never>] in
                    state.port = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
                logger.info("HTTP listening", metadata: ["bridge.http.address": "\(host):\(port)"])
            },
            logger: httpLogger
        )
        try await app.run()
    }

    // MARK: Readiness

    /// Whether the bridge is ready, and a JSON object saying why (or why not).
    func readiness() -> (ready: Bool, body: [String: JSONValue]) {
        var problems: [JSONValue] = []
        if !health.isConnected { problems.append("redis unreachable") }
        if !coordinator.isStarted { problems.append("start-up not finished") }
        var counts: [String: Int] = ["confirmed": 0, "pending": 0, "retrying": 0, "failed": 0]
        for (market, service) in coordinator.markets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for subscription in service.pool.subscriptions {
                let state = Self.readinessState(subscription)
                counts[state, default: 0] += 1
                if state == "failed", problems.count < 20 {
                    problems.append(JSONValue("\(market.rawValue) \(subscription.stream) failed: \(subscription.failureReason ?? "unknown")"))
                }
            }
        }
        let ready = problems.isEmpty
        return (ready, [
            "status": JSONValue(ready ? "ready" : "not_ready"),
            "problems": .array(problems),
            "streams": .object(counts.mapValues { JSONValue($0) }),
        ])
    }

    /// `confirmed`, `pending`, `retrying` (failed because its connection dropped: it is
    /// resubscribed on reconnect) or `failed` (an error reply, or no ack after the retries).
    static func readinessState(_ subscription: BinanceStreamPool.Subscription) -> String {
        switch subscription.state {
        case "failed": (subscription.failureReason ?? "").hasPrefix("connection lost") ? "retrying" : "failed"
        default: subscription.state
        }
    }

    // MARK: Scrape-time gauges

    private func refreshGauges() {
        for (market, service) in coordinator.markets {
            var connections: [String: Int] = ["open": 0, "connecting": 0, "waiting": 0, "closing": 0]
            for connection in service.pool.connections { connections[connection.state, default: 0] += 1 }
            for (state, count) in connections {
                Gauge(label: "binance_bridge_connections", dimensions: [("market", market.rawValue), ("state", state)]).record(count)
            }
            var streams: [String: Int] = ["confirmed": 0, "pending": 0, "retrying": 0, "failed": 0]
            for subscription in service.pool.subscriptions { streams[Self.readinessState(subscription), default: 0] += 1 }
            for (state, count) in streams {
                Gauge(label: "binance_bridge_streams", dimensions: [("market", market.rawValue), ("state", state)]).record(count)
            }
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ object: [String: JSONValue]) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: JSONValue.object(object).text))
        )
    }
}

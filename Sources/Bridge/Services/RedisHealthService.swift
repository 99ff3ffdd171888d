import Logging
import Metrics
import RedisClient
import ServiceLifecycle
import Synchronization

/// Keeps watch over the bridge's Redis connection: connects at start (retrying with backoff
/// while Redis is away), logs when it is connected and when it is lost, and publishes the
/// state as `binance_bridge_redis_up` (1/0) so `/readyz` and dashboards can see it.
///
/// A `PING` every `interval` is cheap (one round trip on loopback) and catches a dead
/// connection within a second even when nothing else is being written.
public final class RedisHealthService: Service, Sendable {
    private let connection: RedisConnection
    private let interval: Duration
    private let reconnectPolicy: RedisReconnectPolicy
    private let logger: Logger
    private let connected = Mutex(false)
    private let upGauge = Gauge(label: "binance_bridge_redis_up")

    /// - Parameters:
    ///   - connection: the connection to watch (shared with other services).
    ///   - interval: time between health checks while connected.
    public init(
        connection: RedisConnection,
        interval: Duration = .seconds(1),
        reconnectPolicy: RedisReconnectPolicy = RedisReconnectPolicy(initialDelay: .milliseconds(250)),
        logger: Logger
    ) {
        self.connection = connection
        self.interval = interval
        self.reconnectPolicy = reconnectPolicy
        self.logger = logger
    }

    /// Whether the last health check succeeded.
    public var isConnected: Bool { connected.withLock { $0 } }

    public func run() async throws {
        upGauge.record(0)
        // Cancelled on graceful shutdown: the sleeps below throw and the loop ends.
        try? await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await self.check()
                    failures = 0
                    try await Task.sleep(for: self.interval)
                } catch let error as RedisClientError {
                    if error.code == .cancelled || error.code == .shutdown { return }
                    self.markDisconnected(error)
                    try await Task.sleep(for: self.reconnectPolicy.delay(afterFailures: failures))
                    failures += 1
                }
            }
        }
        upGauge.record(0)
    }

    private func check() async throws(RedisClientError) {
        let wasConnected = isConnected
        if wasConnected {
            try await connection.send("PING")
            return
        }
        let info = try await connection.send("INFO", "server").string ?? ""
        connected.withLock { $0 = true }
        upGauge.record(1)
        logger.info(
            "connected to Redis",
            metadata: [
                "bridge.redis.url": "\(connection.configuration.url)",
                "bridge.redis.version": "\(Self.infoField("redis_version", in: info) ?? "unknown")",
                "bridge.redis.mode": "\(Self.infoField("redis_mode", in: info) ?? "unknown")",
            ]
        )
    }

    private func markDisconnected(_ error: RedisClientError) {
        let wasConnected = connected.withLock { state in
            defer { state = false }
            return state
        }
        upGauge.record(0)
        Counter(label: "binance_bridge_redis_errors_total", dimensions: [("code", error.code.description)]).increment()
        // Log once per outage, not on every retry.
        if wasConnected {
            logger.warning("lost the Redis connection", metadata: ["bridge.redis.error": "\(error)"])
        } else {
            logger.warning("cannot reach Redis; retrying", metadata: ["bridge.redis.url": "\(connection.configuration.url)", "bridge.redis.error": "\(error)"])
        }
    }

    /// Reads `name:value` from an `INFO` reply.
    static func infoField(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }
}

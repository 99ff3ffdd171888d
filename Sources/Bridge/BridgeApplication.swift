import BridgeCore
import Logging
import Metrics
import Prometheus
import RedisClient
import ServiceLifecycle

/// Assembles the bridge's services and runs them until SIGTERM/SIGINT.
///
/// Services run in one `ServiceGroup` in the architecture's order (Redis first; the pool,
/// the bridge and HTTP join it in later issues). On a signal the group shuts down gracefully
/// and `run` returns normally, so the process exits 0.
public enum BridgeApplication {
    /// The Prometheus registry every metric of this process lands in (exported over HTTP by
    /// the metrics endpoint).
    public static let metricsRegistry = PrometheusCollectorRegistry()

    /// Bootstraps swift-log (standard error, at `level`) and swift-metrics (Prometheus).
    /// Call once per process, before creating loggers or metrics.
    public static func bootstrapObservability(logLevel: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
    }

    /// The Redis connection settings derived from the bridge's configuration.
    public static func redisConfiguration(_ configuration: BridgeConfiguration) throws(RedisClientError) -> RedisConnectionConfiguration {
        RedisConnectionConfiguration(
            url: try RedisURL(parsing: configuration.redis.url),
            connectTimeout: configuration.redis.connectTimeout,
            commandTimeout: configuration.redis.commandTimeout,
            clientName: "binance-bridge"
        )
    }

    /// Runs the bridge until a shutdown signal, then closes everything and returns.
    public static func run(configuration: BridgeConfiguration, logger: Logger) async throws {
        logger.info(
            "binance-bridge starting",
            metadata: [
                "bridge.version": "\(BridgeVersion.current)",
                "bridge.settings": .dictionary(.init(uniqueKeysWithValues: configuration.redactedSettings.map { ($0.key, .string($0.value)) })),
            ]
        )
        let redis = RedisConnection(configuration: try redisConfiguration(configuration))
        let health = RedisHealthService(connection: redis, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: health)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
        logger.info("binance-bridge stopped")
    }
}

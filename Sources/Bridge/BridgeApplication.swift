import BinanceStreams
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

    /// Runs the bridge until a shutdown signal, then drains and returns.
    ///
    /// Services, in start order (shutdown runs in reverse, each finishing before the next is
    /// told): Redis health, events, the publisher, one market service per market (pool +
    /// normalizer), the control channel, the status hash. So on SIGTERM the bridge stops taking
    /// commands, closes the sockets, hands every frame already read to the publisher, flushes
    /// it to Redis, and exits; the desired sets stay as they are for the next start.
    public static func run(configuration: BridgeConfiguration, logger: Logger) async throws {
        logger.info(
            "binance-bridge starting",
            metadata: [
                "bridge.version": "\(BridgeVersion.current)",
                "bridge.settings": .dictionary(.init(uniqueKeysWithValues: configuration.redactedSettings.map { ($0.key, .string($0.value)) })),
            ]
        )
        let components = try BridgeComponents(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: components.services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            await components.close()
            throw error
        }
        await components.close()
        logger.info("binance-bridge stopped")
    }
}

/// Everything one bridge process runs, built from its configuration (also used by tests to
/// run a bridge in-process).
public struct BridgeComponents: Sendable {
    public let coordinator: BridgeCoordinator
    public let services: [any Service]
    /// `/metrics`, `/healthz`, `/readyz`.
    public let http: HTTPService
    /// REST depth snapshots for the books (nil when no symbol keeps a book).
    public let snapshotFetcher: DepthSnapshotFetcher?
    private let connections: [RedisConnection]

    public init(configuration: BridgeConfiguration, logger: Logger) throws {
        let redisConfiguration = try BridgeApplication.redisConfiguration(configuration)
        BridgeMetricsCatalogue.primeCounters(markets: BinanceMarket.allCases)
        // Separate connections: each runs its jobs in order, so data batches, events and
        // control replies never queue behind one another.
        let commands = RedisConnection(configuration: redisConfiguration)
        let data = RedisConnection(configuration: redisConfiguration)
        let eventsConnection = RedisConnection(configuration: redisConfiguration)
        connections = [commands, data, eventsConnection]
        let keys = BridgeKeys(prefix: configuration.redis.prefix)
        let events = BridgeEvents(redis: eventsConnection, channel: keys.events, logger: logger)
        let publisher = EntryPublisher(
            redis: data,
            configuration: EntryPublisher.Configuration(
                prefix: configuration.redis.prefix,
                maxlen: configuration.redis.maxlen,
                maxlenByKind: configuration.maxlenByKind,
                bufferBytes: configuration.publisher.bufferBytes,
                batchSize: configuration.publisher.batchSize,
                batchWindow: configuration.publisher.batchWindow
            ),
            events: events,
            logger: logger
        )
        var endpoints: [BinanceMarket: BinanceEndpoint] = [:]
        for market in BinanceMarket.allCases {
            let urls = configuration.endpoints(market)
            endpoints[market] = BinanceEndpoint(market: market, webSocketBase: urls.webSocketURL, restBase: urls.restURL)
        }
        let instruments = InstrumentCache(redis: commands, keys: keys, endpoints: endpoints, events: events, logger: logger)
        // One fetcher for both markets: fapi and dapi share Binance's REST weight budget.
        let books = configuration.books
        let fetcher = books.enabled || !books.symbols.isEmpty
            ? DepthSnapshotFetcher(
                endpoints: endpoints, depthLimit: books.depthLimit, weightPerMinute: books.restWeightPerMinute, timeout: books.snapshotTimeout, logger: logger
            )
            : nil
        snapshotFetcher = fetcher
        var markets: [BinanceMarket: MarketService] = [:]
        for market in BinanceMarket.allCases {
            let pool = BinanceStreamPool(
                endpoint: endpoints[market]!,
                configuration: configuration.pool,
                connection: BinanceConnectionSettings(url: "", apiKey: configuration.apiKey),
                logger: logger
            )
            let keeper = fetcher.map { fetcher in
                let keeper = BookKeeper(
                    market: market, settings: books, fetcher: fetcher, publisher: publisher, events: events, instruments: instruments, logger: logger
                )
                fetcher.register(keeper, for: market)
                return keeper
            }
            markets[market] = MarketService(pool: pool, publisher: publisher, instruments: instruments, events: events, books: keeper, logger: logger)
        }
        coordinator = BridgeCoordinator(
            keys: keys, redis: commands, events: events, publisher: publisher, instruments: instruments,
            markets: markets, strictInstruments: configuration.instruments.strict, logger: logger
        )
        let startup = StartupService(coordinator: coordinator, syncOnStart: configuration.instruments.syncOnStart, logger: logger)
        let health = RedisHealthService(connection: commands, logger: logger)
        http = HTTPService(
            host: configuration.http.host, port: configuration.http.port, coordinator: coordinator, health: health,
            registry: BridgeApplication.metricsRegistry, logger: logger
        )
        // HTTP first: /healthz answers while the rest starts, and /readyz says what is missing.
        // The fetcher before the markets: it stops after them (shutdown runs in reverse).
        services = [http, health, events, publisher] + (fetcher.map { [$0] } ?? [])
            + BinanceMarket.allCases.compactMap { markets[$0] }
            + [startup, ControlService(bridge: coordinator, subscriberConfiguration: redisConfiguration, logger: logger), StatusService(bridge: coordinator)]
    }

    /// Closes the Redis connections (after the services have stopped).
    public func close() async {
        for connection in connections { await connection.close() }
    }
}

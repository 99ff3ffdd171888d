import BridgeCore
import Logging
import ServiceLifecycle

/// Start-up work that needs Redis: load the instrument caches (syncing from exchangeInfo
/// when a hash is empty and `instruments.sync_on_start` is on), then restore the desired
/// subscriptions with their `restart` markers. Retries while Redis is away; a shutdown in
/// the meantime ends it.
public final class StartupService: Service, Sendable {
    private let coordinator: BridgeCoordinator
    private let syncOnStart: Bool
    private let logger: Logger

    public init(coordinator: BridgeCoordinator, syncOnStart: Bool, logger: Logger) {
        self.coordinator = coordinator
        self.syncOnStart = syncOnStart
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await self.loadInstruments()
            await self.coordinator.restore()
            self.coordinator.startupFinished()
            // Stay alive until shutdown: a finished service would end the group.
            try await Task.sleep(for: .seconds(365 * 86_400))
        }
    }

    private func loadInstruments() async {
        let instruments = coordinator.instruments
        for market in BinanceMarket.allCases where coordinator.markets[market] != nil {
            await retryingWhileRedisIsAway {
                let count = try await instruments.reload(market)
                guard count == 0 && syncOnStart else { return }
                do {
                    let synced = try await instruments.sync(market)
                    logger.info("instruments synced from exchangeInfo", metadata: ["bridge.market": "\(market.rawValue)", "bridge.instruments": "\(synced)"])
                } catch {
                    // Data still flows without instruments (decimals as Binance wrote them).
                    logger.warning("instrument sync failed; decimals pass through unformatted", metadata: ["bridge.market": "\(market.rawValue)", "bridge.error": "\(error)"])
                    coordinator.events.publish(type: "error", market: market, ["code": "instrument_sync_failed", "message": JSONValue("\(error)")])
                }
            } onFailure: { error in
                logger.warning("cannot load instruments yet", metadata: ["bridge.market": "\(market.rawValue)", "bridge.redis.error": "\(error)"])
            }
        }
    }
}

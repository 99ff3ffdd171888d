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
            let unsynced = await self.loadInstruments()
            await self.coordinator.restore()
            self.coordinator.startupFinished()
            // Markets whose first sync failed keep trying in the background (data flows
            // meanwhile, decimals as Binance wrote them); then stay alive until shutdown: a
            // finished service would end the group.
            await withTaskGroup(of: Void.self) { group in
                for (market, error) in unsynced { group.addTask { await self.retrySync(market, after: error) } }
            }
            try await Task.sleep(for: .seconds(365 * 86_400))
        }
    }

    /// Loads every market's instruments from Redis, syncing from exchangeInfo where the hash
    /// is empty; returns the markets whose sync failed, with the failure.
    private func loadInstruments() async -> [(BinanceMarket, any Error)] {
        let instruments = coordinator.instruments
        var unsynced: [(BinanceMarket, any Error)] = []
        for market in BinanceMarket.allCases where coordinator.markets[market] != nil {
            await retryingWhileRedisIsAway {
                let count = try await instruments.reload(market)
                guard count == 0 && syncOnStart else { return }
                do {
                    let synced = try await instruments.sync(market)
                    logger.info("instruments synced from exchangeInfo", metadata: ["bridge.market": "\(market.rawValue)", "bridge.instruments": "\(synced)"])
                } catch {
                    syncFailed(market, error)
                    unsynced.append((market, error))
                }
            } onFailure: { error in
                logger.warning("cannot load instruments yet", metadata: ["bridge.market": "\(market.rawValue)", "bridge.redis.error": "\(error)"])
            }
        }
        return unsynced
    }

    private func syncFailed(_ market: BinanceMarket, _ error: any Error) {
        // Data still flows without instruments (decimals as Binance wrote them).
        logger.warning("instrument sync failed; decimals pass through unformatted until it succeeds", metadata: ["bridge.market": "\(market.rawValue)", "bridge.error": "\(error)"])
        var details: [String: JSONValue] = ["code": "instrument_sync_failed", "message": JSONValue("\(error)")]
        if let wait = (error as? InstrumentSyncError)?.retryAfter { details["retry_in_ms"] = JSONValue(Int(wait.components.seconds * 1000)) }
        coordinator.events.publish(type: "error", market: market, details)
    }

    /// Retries a failed start-up sync until it succeeds (or an `instruments.sync` command, or
    /// a reload, fills the cache first): after Binance's `Retry-After` on `429`/`418`, else
    /// with backoff from 1 s to 60 s.
    private func retrySync(_ market: BinanceMarket, after first: any Error) async {
        var error = first
        var backoff = Duration.seconds(1)
        while !Task.isCancelled {
            let wait = (error as? InstrumentSyncError)?.retryAfter ?? backoff
            backoff = min(backoff * 2, .seconds(60))
            do { try await Task.sleep(for: wait) } catch { return }
            if coordinator.instruments.count(market) > 0 { return }
            do {
                let synced = try await coordinator.instruments.sync(market)
                logger.info("instruments synced from exchangeInfo", metadata: ["bridge.market": "\(market.rawValue)", "bridge.instruments": "\(synced)"])
                return
            } catch let failure {
                error = failure
                syncFailed(market, failure)
            }
        }
    }
}

import BinanceStreams
import BridgeCore
import Logging
import Metrics
import RedisClient
import ServiceLifecycle

/// The control channel (Redis contract §1 and §3): subscribes to `{prefix}:control`, applies
/// each command in the order received, keeps the desired sets
/// `{prefix}:subscriptions:{market}`, and replies through `reply_to` (`LPUSH` + `EXPIRE 60`)
/// and the events channel.
///
/// Commands are handled one at a time from one task, so they apply in order and a flood of
/// bad ones costs a decode each and nothing else: a bad command gets its error and the next
/// one is read. The subscriber survives Redis restarts (commands published during an outage
/// are lost, as pub/sub is; the outage is logged and reported as an event).
public final class ControlService: Service, Sendable {
    private let bridge: BridgeCoordinator
    private let subscriberConfiguration: RedisConnectionConfiguration
    private let logger: Logger

    public init(bridge: BridgeCoordinator, subscriberConfiguration: RedisConnectionConfiguration, logger: Logger) {
        self.bridge = bridge
        self.subscriberConfiguration = subscriberConfiguration
        self.logger = logger
    }

    public func run() async throws {
        // Commands apply after the restore and with the instrument cache loaded. A shutdown
        // before start-up finishes ends here (the startup service is told first).
        let startedOrStopping = await withGracefulShutdownHandler {
            await bridge.waitUntilStarted()
            return true
        } onGracefulShutdown: {
            self.bridge.startupFinished()
        }
        guard startedOrStopping, !Task.isShuttingDownGracefully else { return }
        let subscriber = RedisSubscriber(
            configuration: subscriberConfiguration,
            channels: [bridge.keys.control],
            reconnectPolicy: RedisReconnectPolicy(initialDelay: .milliseconds(100)),
            healthCheckInterval: .seconds(2)
        )
        // Graceful shutdown: stop taking commands first (the services behind still drain).
        await withGracefulShutdownHandler {
            for await event in subscriber {
                switch event {
                case .subscribed:
                    logger.info("listening for commands", metadata: ["bridge.channel": "\(bridge.keys.control)"])
                case .message(let message):
                    await bridge.handle(payload: message.payload)
                case .disconnected(let error):
                    logger.warning("control channel lost; commands published meanwhile are lost", metadata: ["bridge.redis.error": "\(error)"])
                    bridge.events.publish(type: "error", market: nil, ["code": "redis_error", "message": JSONValue("control channel lost: \(error.message)")])
                case .reconnected(let outage):
                    logger.info("control channel back", metadata: ["bridge.outage": "\(outage)"])
                }
            }
        } onGracefulShutdown: {
            subscriber.close()
        }
    }
}

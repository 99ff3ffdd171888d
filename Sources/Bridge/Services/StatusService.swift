import ServiceLifecycle

/// Refreshes `{prefix}:status` every second (Redis contract §5).
public final class StatusService: Service, Sendable {
    private let bridge: BridgeCoordinator
    private let interval: Duration

    public init(bridge: BridgeCoordinator, interval: Duration = .seconds(1)) {
        self.bridge = bridge
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.bridge.writeStatusHash()
                try await Task.sleep(for: self.interval)
            }
        }
        // A last refresh, so the hash shows the final counters.
        await bridge.writeStatusHash()
    }
}

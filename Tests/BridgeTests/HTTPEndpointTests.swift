import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import Logging
import RedisClient
import ServiceLifecycle
import TestSupport
import Testing

/// `/healthz`, `/readyz` and `/metrics` as an orchestrator and Prometheus see them.
@Suite("HTTP endpoints", .timeLimit(.minutes(2)))
struct HTTPEndpointTests {
    @Test func readyOnlyWithRedisAndStartUpDoneAndHealthyAllTheTime() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            // Redis nowhere (nothing listens on loopback port 1): alive, not ready, and why.
            var unreachable = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix(), redisURL: "redis://127.0.0.1:1/0")
            unreachable.redis.connectTimeout = .milliseconds(200)
            var logger = Logger(label: "http-test")
            logger.logLevel = .critical
            let components = try BridgeComponents(configuration: unreachable, logger: logger)
            let group = ServiceGroup(services: components.services, logger: logger)
            let running = Task { try await group.run() }
            let port = await components.http.boundPort()
            #expect(try await httpGet(port: port, "/healthz").status == 200)
            let notReady = try await httpGet(port: port, "/readyz")
            #expect(notReady.status == 503)
            let body = try #require(JSONValue.parse(Array(notReady.body.utf8)))
            #expect(body["status"] == "not_ready")
            #expect(body["problems"]?.array?.contains("redis unreachable") == true, "\(notReady.body)")
            #expect(body["problems"]?.array?.contains("start-up not finished") == true, "\(notReady.body)")
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await components.close()

            // With Redis: ready once started, and still with streams subscribed and confirmed.
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            try await BridgeHarness.with(configuration) { bridge in
                let port = await bridge.components.http.boundPort()
                try await eventually("ready") { try await httpGet(port: port, "/readyz").status == 200 }
                #expect(try await bridge.command(["op": "subscribe", "streams": ["btcusdt@aggTrade", "ethusdt@bookTicker"]])["ok"] == true)
                try await eventually("ready with both streams confirmed") {
                    let ready = try await httpGet(port: port, "/readyz")
                    return ready.status == 200 && JSONValue.parse(Array(ready.body.utf8))?["streams"]?["confirmed"] == 2
                }
                #expect(try await httpGet(port: port, "/nothing").status == 404)
            }
        }
    }
}

import AsyncHTTPClient
import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import Logging
import RedisClient
import ServiceLifecycle
import TestSupport
import Testing

/// Runs a whole bridge in-process against an in-process simulator and a real Redis, and
/// drives it the way a user does: `PUBLISH` commands, `BLPOP` replies, `XRANGE` streams.
struct BridgeHarness {
    let prefix: String
    let redis: RedisConnection
    let components: BridgeComponents

    /// A bridge configuration pointing at `simulator` (and at `redisURL`, default: the shared
    /// server) under a prefix of its own.
    static func configuration(simulator: BinanceSimulator, prefix: String, redisURL: String? = nil) throws -> BridgeConfiguration {
        var configuration = BridgeConfiguration()
        configuration.redis.url = try redisURL ?? SharedRedis.urlString()
        configuration.redis.prefix = prefix
        configuration.usdm = .init(webSocketURL: "ws://127.0.0.1:\(simulator.ports.usdm)", restURL: "http://127.0.0.1:\(simulator.ports.usdm)")
        configuration.coinm = .init(webSocketURL: "ws://127.0.0.1:\(simulator.ports.coinm)", restURL: "http://127.0.0.1:\(simulator.ports.coinm)")
        // Loopback, any free port: bridges run side by side in one test process.
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        return configuration
    }

    /// Runs `body` with a started bridge; stops it gracefully afterwards (as SIGTERM does).
    static func with<Result: Sendable>(
        _ configuration: BridgeConfiguration,
        _ body: (BridgeHarness) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "bridge-test")
        logger.logLevel = .warning
        let components = try BridgeComponents(configuration: configuration, logger: logger)
        // The group logs each service's start and end at debug: shown when a shutdown hangs.
        var groupLogger = Logger(label: "bridge-test-group")
        groupLogger.logLevel = ProcessInfo.processInfo.environment["BRIDGE_TEST_GROUP_DEBUG"] == nil ? .warning : .debug
        let group = ServiceGroup(services: components.services, logger: groupLogger)
        let running = Task { try await group.run() }
        let redis = RedisConnection(configuration: try BridgeApplication.redisConfiguration(configuration))
        let harness = BridgeHarness(prefix: configuration.redis.prefix, redis: redis, components: components)
        do {
            try await harness.waitForControlChannel()
            let result = try await body(harness)
            await group.triggerGracefulShutdown()
            try await running.value
            await components.close()
            await redis.close()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await components.close()
            await redis.close()
            throw error
        }
    }

    /// Until the bridge listens on the control channel (a command published earlier is lost).
    func waitForControlChannel() async throws {
        try await eventually("the bridge subscribes to \(prefix):control") {
            let reply = try await redis.send("PUBSUB", "NUMSUB", "\(prefix):control")
            return (reply.array?.last?.integer ?? 0) > 0
        }
    }

    /// Publishes `command` (with a fresh `reply_to`) and returns the reply.
    func command(_ command: JSONValue) async throws -> JSONValue {
        try await sendCommand(command, prefix: prefix, redis: redis)
    }

    /// Every entry of `stream` as (id, fields).
    func entries(_ stream: String, market: BinanceMarket = .usdm) async throws -> [(id: String, fields: [String: String])] {
        try await streamEntries("\(prefix):\(market.rawValue):\(stream)", redis: redis)
    }

    func desired(_ market: BinanceMarket = .usdm) async throws -> Set<String> {
        Set((try await redis.send("SMEMBERS", "\(prefix):subscriptions:\(market.rawValue)")).array?.compactMap(\.string) ?? [])
    }
}

/// Publishes `command` on `{prefix}:control` with a fresh `reply_to`, as a client does, and
/// returns the reply (checking that its list expires).
func sendCommand(_ command: JSONValue, prefix: String, redis: RedisConnection) async throws -> JSONValue {
    let replyTo = SharedRedis.uniqueKey("reply")
    var object = command.object ?? [:]
    object["reply_to"] = .string(replyTo)
    let text = JSONValue.object(object).text
    try await redis.send("PUBLISH", "\(prefix):control", text)
    let reply = try await redis.send("BLPOP", replyTo, "10")
    guard let payload = reply.array?.last?.bytes, let value = JSONValue.parse(payload) else {
        throw TestError("no reply to \(text.prefix(200)) on \(replyTo)")
    }
    // The reply list expires (EXPIRE 60) so abandoned replies do not pile up.
    let ttl = try await redis.send("TTL", replyTo).integer ?? -2
    #expect(ttl == -2 || (0...60).contains(ttl))
    return value
}

/// The entries of the stream at `key` as (id, fields), oldest first: all of them, or at most
/// `count` after the id `after`.
func streamEntries(_ key: String, redis: RedisConnection, after: String? = nil, through: String = "+", count: Int? = nil) async throws -> [(id: String, fields: [String: String])] {
    let reply = try await redis.send(["XRANGE", key, after.map { "(" + $0 } ?? "-", through] + (count.map { ["COUNT", String($0)] } ?? []))
    return (reply.array ?? []).compactMap { item in item.streamEntry.map { ($0.id, Dictionary($0.fields, uniquingKeysWith: { _, last in last })) } }
}

/// GET `http://127.0.0.1:<port><path>`: the status and the body as text.
func httpGet(port: Int, _ path: String) async throws -> (status: Int, body: String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// A short simulator configuration for bridge tests: the default instruments, a brisk market.
func testSimulatorConfiguration(groundTruth: String? = nil) -> SimulatorConfiguration {
    var configuration = SimulatorConfiguration()
    configuration.rate = 40
    configuration.groundTruthPath = groundTruth
    return configuration
}

func uniquePrefix() -> String { "bt\(UInt32.random(in: 0...UInt32.max))" }

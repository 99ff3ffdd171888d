import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import Logging
import RedisClient
import ServiceLifecycle
import TestSupport
import Testing

/// `config/redis-users.acl` as shipped: the bridge runs with its own user, an operator drives
/// it, and a reader can read everything a consumer needs but write nothing and send no command.
@Suite("Redis ACLs for least privilege", .timeLimit(.minutes(2)))
struct RedisACLTests {
    static let aclFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/redis-users.acl").path

    /// Runs the bridge as its ACL user against `server` (not BridgeHarness: that asks
    /// `PUBSUB NUMSUB` as the bridge, which the bridge user may not), has the operator user
    /// subscribe `btcusdt@aggTrade` with its reply under `binance:reply:…`, runs `body`, and
    /// shuts the bridge down.
    static func withBridge(on server: RedisServerProcess, _ body: (BinanceSimulator) async throws -> Void) async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: "binance", redisURL: "redis://bridge:change-me-bridge@127.0.0.1:\(server.port)/0")
            var logger = Logger(label: "acl-test")
            logger.logLevel = .warning
            let components = try BridgeComponents(configuration: configuration, logger: logger)
            let group = ServiceGroup(services: components.services, logger: logger)
            let running = Task { try await group.run() }
            defer { running.cancel() }
            try await withRedisConnection(server.configuration(password: "change-me-operator", user: "operator")) { control in
                let command = #"{"op":"subscribe","id":1,"streams":["btcusdt@aggTrade"],"reply_to":"binance:reply:acl"}"#
                try await eventually("the bridge listens and answers") {
                    guard try await control.send("PUBLISH", "binance:control", command).integer == 1 else { return false }
                    let reply = try await control.send("BLPOP", "binance:reply:acl", "2")
                    return reply.array?.last?.bytes.flatMap { JSONValue.parse($0) }?["ok"] == true
                }
            }
            try await body(simulator)
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await components.close()
        }
    }

    /// Each of `commands` is refused with `NOPERM` on `connection` (logged in as `user`).
    static func expectDenied(_ commands: [[String]], on connection: RedisConnection, user: String) async {
        for denied in commands {
            do {
                _ = try await connection.send(denied)
                Issue.record("\(user) was allowed: \(denied[0])")
            } catch {
                #expect(error.serverErrorCode == "NOPERM", "\(user) \(denied[0]): \(error)")
            }
        }
    }

    /// docs/operations.md's consumer-group user: examples/python/consumer.py runs with it
    /// (XGROUP CREATE, XREADGROUP, XACK), and it can neither command the bridge nor write
    /// entries, sets or hashes.
    @Test func aGroupReaderRunsTheConsumerExampleAndWritesNothingElse() async throws {
        let server = try RedisServerProcess(arguments: ["--aclfile", Self.aclFile])
        try server.start()
        defer { server.stop() }
        try await Self.withBridge(on: server) { _ in
            let url = "redis://group-reader:change-me-group-reader@127.0.0.1:\(server.port)/0"
            let consumed = try await ExamplesTests().run("python3", ["examples/python/consumer.py", "--redis-url", url, "--stream", "binance:usdm:btcusdt@aggTrade", "--group", "desk", "--count", "5", "--seconds", "30"])
            #expect(consumed.status == 0, "\(consumed)")
            #expect((JSONValue.parse(Array(consumed.stdout.split(separator: "\n").last.map(String.init)?.utf8 ?? "".utf8))?["data"]?.integer ?? 0) >= 5, "\(consumed.stdout)")
            try await withRedisConnection(server.configuration(password: "change-me-group-reader", user: "group-reader")) { (reader: RedisConnection) async throws in
                let pending = try await reader.send("XPENDING", "binance:usdm:btcusdt@aggTrade", "desk")
                #expect(pending.array?.first?.integer == 0, "every entry read was acknowledged: \(pending)")
                await Self.expectDenied([
                    ["PUBLISH", "binance:control", #"{"op":"unsubscribe","streams":["btcusdt@aggTrade"]}"#],
                    ["XADD", "binance:usdm:btcusdt@aggTrade", "*", "type", "fake"],
                    ["XTRIM", "binance:usdm:btcusdt@aggTrade", "MAXLEN", "0"],
                    ["DEL", "binance:usdm:btcusdt@aggTrade"],
                    ["SADD", "binance:subscriptions:usdm", "ethusdt@aggTrade"],
                    ["XGROUP", "DESTROY", "binance:usdm:btcusdt@aggTrade", "desk"],
                    ["SET", "binance:x", "1"],
                ], on: reader, user: "group-reader")
            }
        }
    }

    @Test func theBridgeWorksWithItsUserAndTheReaderCanOnlyRead() async throws {
        let server = try RedisServerProcess(arguments: ["--aclfile", Self.aclFile])
        try server.start()
        defer { server.stop() }
        try await Self.withBridge(on: server) { _ in
            try await withRedisConnection(server.configuration(password: "change-me-reader", user: "reader")) { reader in
                try await eventually("entries readable by the reader") {
                    (try await reader.send("XRANGE", "binance:usdm:btcusdt@aggTrade", "-", "+").array?.count ?? 0) >= 3
                }
                #expect(try await reader.send("XREAD", "COUNT", "1", "STREAMS", "binance:usdm:btcusdt@aggTrade", "0").array?.isEmpty == false)
                #expect(try await reader.send("SMEMBERS", "binance:subscriptions:usdm").array?.compactMap(\.string) == ["btcusdt@aggTrade"])
                try await eventually("status hash") { (try await reader.send("HGETALL", "binance:status").array?.count ?? 0) > 0 }
                #expect((try await reader.send("HGETALL", "binance:instruments:usdm").array?.count ?? 0) > 0)
                // Nothing written, nothing commanded.
                await Self.expectDenied([
                    ["PUBLISH", "binance:control", #"{"op":"unsubscribe","streams":["btcusdt@aggTrade"]}"#],
                    ["XADD", "binance:usdm:btcusdt@aggTrade", "*", "type", "fake"],
                    ["DEL", "binance:usdm:btcusdt@aggTrade"],
                    ["SADD", "binance:subscriptions:usdm", "ethusdt@aggTrade"],
                    ["HSET", "binance:instruments:usdm", "X", "{}"],
                    ["SET", "binance:x", "1"],
                    ["XGROUP", "CREATE", "binance:usdm:btcusdt@aggTrade", "g", "0"],
                ], on: reader, user: "reader")
                // The bridge hit no permission error of its own along the way.
                let status = try await reader.send("HGET", "binance:status", "last_error").string
                #expect(status == nil || !(status!.contains("NOPERM")), "\(status ?? "")")
            }
        }
    }
}

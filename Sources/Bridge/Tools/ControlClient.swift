import AsyncHTTPClient
import BridgeCore
import Foundation
import RedisClient

/// What `binance-bridge ctl` does: one command to a running bridge, through Redis only, as any
/// client in any language would (`PUBLISH` on `{prefix}:control` with a `reply_to` list, then
/// `BLPOP` on it).
public struct ControlClient: Sendable {
    /// Why `ctl` failed; each maps to an exit status.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The words do not make a command (exit 64, as `sysexits`' usage error).
        case usage(String)
        /// Nobody subscribes to the control channel: no bridge with this prefix runs (exit 3).
        case noBridge(channel: String)
        /// A bridge listens but no reply came in time (exit 3).
        case noReply(seconds: Double)

        public var description: String {
            switch self {
            case .usage(let text): text
            case .noBridge(let channel): "no bridge listens on \(channel) (is it running, with this redis.prefix?)"
            case .noReply(let seconds): "no reply within \(seconds) s"
            }
        }

        public var exitCode: Int32 {
            switch self {
            case .usage: 64
            case .noBridge, .noReply: 3
            }
        }
    }

    public static let usage = """
        ctl subscribe STREAM…        ctl unsubscribe STREAM…      ctl list
        ctl status                   ctl reconcile                ctl instruments sync|reload
        (--market usdm|coinm selects the market; usdm by default)
        """

    /// The command the words ask for, as the contract spells it (without `reply_to`).
    public static func command(_ words: [String], market: String?, id: Int) throws(Failure) -> [String: JSONValue] {
        guard let verb = words.first else { throw .usage(usage) }
        var command: [String: JSONValue] = ["id": JSONValue(id)]
        if let market { command["market"] = JSONValue(market) }
        let rest = Array(words.dropFirst())
        switch verb {
        case "subscribe", "unsubscribe":
            guard !rest.isEmpty else { throw .usage("ctl \(verb) needs at least one stream, e.g. ctl \(verb) btcusdt@aggTrade") }
            command["op"] = JSONValue(verb)
            command["streams"] = .array(rest.map { JSONValue($0) })
        case "list", "status", "reconcile":
            guard rest.isEmpty else { throw .usage("ctl \(verb) takes no arguments") }
            command["op"] = JSONValue(verb)
        case "instruments":
            guard rest.count == 1, rest[0] == "sync" || rest[0] == "reload" else { throw .usage("ctl instruments sync|reload") }
            command["op"] = JSONValue("instruments.\(rest[0])")
        default:
            throw .usage("unknown command \"\(verb)\"\n\(usage)")
        }
        return command
    }

    let redis: RedisConnection
    let keys: BridgeKeys

    public init(redis: RedisConnection, prefix: String) {
        self.redis = redis
        self.keys = BridgeKeys(prefix: prefix)
    }

    /// Sends `command` and returns the bridge's reply.
    public func send(_ command: [String: JSONValue], timeout: Duration) async throws -> JSONValue {
        let replyTo = "\(keys.prefix):reply:ctl-\(UInt64.random(in: 0...UInt64.max))"
        var command = command
        command["reply_to"] = JSONValue(replyTo)
        let receivers = try await redis.send("PUBLISH", keys.control, JSONValue.object(command).text).integer ?? 0
        guard receivers > 0 else { throw Failure.noBridge(channel: keys.control) }
        // BLOCK in whole seconds of at most the command timeout; polled so that a long
        // --timeout never trips the connection's own no-progress timeout.
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let reply = try await redis.send("BLPOP", replyTo, "1")
            if let payload = reply.array?.last?.bytes, let value = JSONValue.parse(payload) {
                return value
            }
        }
        throw Failure.noReply(seconds: timeout / .seconds(1))
    }
}

/// What `binance-bridge healthcheck` does (a container `HEALTHCHECK` without curl in the
/// image): GET `url`, true on a 2xx answer within `timeout`.
public enum HealthProbe {
    public static func check(_ url: String, timeout: Duration = .seconds(3)) async -> Bool {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(Int64(timeout.components.seconds)))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return (200..<300).contains(Int(response.status.code))
        } catch {
            return false
        }
    }
}

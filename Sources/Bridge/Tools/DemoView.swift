import BridgeCore
import Foundation
import RedisClient
import ServiceLifecycle

/// The live view of `binance-bridge demo`: subscribes `streams` through the control channel
/// (as any client would), then every second shows per stream the entries per second, the lag
/// from frame receipt to Redis (median of the entry id's time minus `recv_time_us`: whole
/// milliseconds, as stream ids carry), the last price
/// and the gap markers seen. Redrawn in place on a terminal, one plain block per second
/// otherwise. Returns after `seconds` (then the demo shuts down), or at graceful shutdown.
public final class DemoView: Service, Sendable {
    private let redis: RedisConnection
    private let prefix: String
    private let streams: [String]
    private let seconds: Double?
    private let coordinator: BridgeCoordinator
    private let interactive: Bool
    private let header: String

    public init(redis: RedisConnection, prefix: String, streams: [String], seconds: Double?, coordinator: BridgeCoordinator, interactive: Bool, header: String) {
        self.redis = redis
        self.prefix = prefix
        self.streams = streams
        self.seconds = seconds
        self.coordinator = coordinator
        self.interactive = interactive
        self.header = header
    }

    struct Row {
        var stream: String
        var lastID = "0"
        var total = 0
        var perSecond = 0.0
        var lagMilliseconds: Double?
        var lastPrice = "-"
        var gaps = 0
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await self.show() }
        } catch is CancellationError {
            // Graceful shutdown (Ctrl-C).
        } catch {
            Self.write("demo view: \(error)\n")
            throw error
        }
    }

    private func show() async throws {
        await coordinator.waitUntilStarted()
        let started = ContinuousClock.now
        // The control service subscribes to its channel as the group starts: until it has,
        // a command would reach nobody.
        let client = ControlClient(redis: redis, prefix: prefix)
        var answer: JSONValue?
        while answer == nil {
            do {
                answer = try await client.send(["op": "subscribe", "id": "demo", "streams": .array(streams.map { JSONValue($0) })], timeout: .seconds(10))
            } catch ControlClient.Failure.noBridge where ContinuousClock.now - started < .seconds(10) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let reply = answer!
        let status = reply["ok"] == .bool(true) ? "ok" : "error: \(reply["error"]?["message"]?.string ?? reply.text)"
        Self.write("subscribe \(streams.joined(separator: " ")) → \(status)\n")
        var rows = streams.map { Row(stream: $0) }
        var last = ContinuousClock.now
        while seconds.map({ ContinuousClock.now - started < .milliseconds(Int64($0 * 1000)) }) ?? true {
            try await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            let elapsed = (now - last) / .seconds(1)
            last = now
            for index in rows.indices { try await update(&rows[index], elapsed: elapsed) }
            Self.write(render(rows))
        }
    }

    private func update(_ row: inout Row, elapsed: Double) async throws {
        let key = "\(prefix):usdm:\(row.stream)"
        let reply = try await redis.send("XRANGE", key, "(" + row.lastID, "+", "COUNT", "100000")
        let entries: [(id: String, fields: [String: String])] = (reply.array ?? []).compactMap { item in
            item.streamEntry.map { ($0.id, Dictionary($0.fields, uniquingKeysWith: { _, last in last })) }
        }
        Self.absorb(entries, into: &row, elapsed: elapsed)
    }

    /// Folds the entries read since the last refresh into a row: data entries counted (per
    /// second over `elapsed`), their median lag (entry id's ms − `recv_time_us`), the last
    /// price; `gap` markers counted; `status` markers skipped.
    static func absorb(_ entries: [(id: String, fields: [String: String])], into row: inout Row, elapsed: Double) {
        var data = 0
        var lags: [Double] = []
        for (id, fields) in entries {
            row.lastID = id
            switch fields["type"] {
            case "gap": row.gaps += 1
            case "status": break
            default:
                data += 1
                if let received = fields["recv_time_us"].flatMap(Int64.init), let written = id.split(separator: "-").first.flatMap({ Int64($0) }) {
                    lags.append(Double(written * 1000 - received) / 1000)
                }
                if let price = fields["price"] ?? fields["mark_price"] ?? fields["bid_price"] ?? fields["bids"].map(Self.bestLevel) { row.lastPrice = price }
            }
        }
        row.total += data
        row.perSecond = elapsed > 0 ? Double(data) / elapsed : 0
        if !lags.isEmpty { row.lagMilliseconds = lags.sorted()[lags.count / 2] }
    }

    /// Entry ids carry whole milliseconds, so a lag below one is shown as such.
    static func lagText(_ milliseconds: Double) -> String {
        milliseconds < 1 ? "<1 ms" : String(format: "%.0f ms", milliseconds)
    }

    /// The first price of a levels array (`[["25000.1","0.5"],…]`).
    static func bestLevel(_ levels: String) -> String {
        guard let start = levels.firstIndex(of: "\""), let end = levels[levels.index(after: start)...].firstIndex(of: "\"") else { return "-" }
        return String(levels[levels.index(after: start)..<end])
    }

    private func render(_ rows: [Row]) -> String {
        Self.render(rows, interactive: interactive, header: header)
    }

    /// The table; on a terminal (`interactive`) prefixed with cursor-home and clear, so each
    /// refresh redraws in place under `header`.
    static func render(_ rows: [Row], interactive: Bool, header: String) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        var lines = [
            pad("stream", 24) + pad("msg/s", 9) + pad("entries", 9) + pad("lag p50", 10) + pad("last price", 16) + "gaps",
        ]
        for row in rows {
            lines.append(
                pad(row.stream, 24) + pad(String(format: "%.0f", row.perSecond), 9) + pad(String(row.total), 9)
                    + pad(row.lagMilliseconds.map(Self.lagText) ?? "-", 10) + pad(row.lastPrice, 16) + String(row.gaps)
            )
        }
        let block = lines.joined(separator: "\n") + "\n"
        // In place on a terminal: home, clear, header and table; plain blocks otherwise.
        return interactive ? "\u{1B}[H\u{1B}[2J" + header + "\n" + block : block + "\n"
    }

    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

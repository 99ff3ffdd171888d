import BridgeCore
import Foundation
import RedisClient

/// What `binance-bridge tail` does: follows streams with `XREAD BLOCK` and renders each entry
/// on one line, markers (`gap`, `status`) highlighted.
public struct StreamTail: Sendable {
    /// One entry read.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var id: String
        public var fields: [(String, String)]

        public static func == (a: Entry, b: Entry) -> Bool {
            a.key == b.key && a.id == b.id && a.fields.elementsEqual(b.fields) { $0 == $1 }
        }
    }

    let redis: RedisConnection
    /// Stream keys and the last id read of each (`$`: only what comes next; `0`: from the start).
    private(set) var positions: [(key: String, id: String)]

    public init(redis: RedisConnection, keys: [String], fromStart: Bool) {
        self.redis = redis
        positions = keys.map { ($0, fromStart ? "0" : "$") }
    }

    /// The next entries (up to `count` per stream), waiting at most `block` for any.
    public mutating func next(count: Int = 100, block: Duration = .seconds(1)) async throws -> [Entry] {
        // `$` means "after the last entry at the time of the call": resolve it once, so that
        // entries added between two calls are not skipped.
        for index in positions.indices where positions[index].id == "$" {
            let last = try await redis.send("XREVRANGE", positions[index].key, "+", "-", "COUNT", "1")
            positions[index].id = last.array?.first?.array?.first?.string ?? "0"
        }
        var arguments = ["XREAD", "COUNT", String(count), "BLOCK", String(max(1, Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000))), "STREAMS"]
        arguments += positions.map(\.key) + positions.map(\.id)
        let reply = try await redis.send(arguments)
        var entries: [Entry] = []
        for stream in reply.array ?? [] {
            guard let parts = stream.array, parts.count == 2, let key = parts[0].string else { continue }
            for item in parts[1].array ?? [] {
                guard let (id, fields) = item.streamEntry else { continue }
                entries.append(Entry(key: key, id: id, fields: fields))
                if let slot = positions.firstIndex(where: { $0.key == key }) { positions[slot].id = id }
            }
        }
        return entries
    }

    /// `<id> <key> type=… field=value …`, with `gap` entries in red and `status` in yellow when
    /// `color` (a terminal); the fields every entry repeats (market, stream) are left out.
    public static func render(_ entry: Entry, color: Bool) -> String {
        let type = entry.fields.first { $0.0 == "type" }?.1 ?? "?"
        let shown = entry.fields.filter { $0.0 != "market" && $0.0 != "stream" }
        let text = "\(entry.id) \(entry.key) " + shown.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        guard color else { return text }
        switch type {
        case "gap": return "\u{1B}[1;31m\(text)\u{1B}[0m"
        case "status": return "\u{1B}[33m\(text)\u{1B}[0m"
        default: return text
        }
    }
}

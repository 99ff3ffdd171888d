import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// Every schema in `docs/schema/` validates the real output it describes: entries of every
/// type from a bridge fed by the simulator, markers, replies to every op (and errors),
/// events, commands and instrument values — checked by `scripts/validate-schemas.py`
/// (Python `jsonschema`, installed by `scripts/test.sh`).
@Suite("JSON Schemas against real output", .timeLimit(.minutes(3)))
struct SchemaTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let usdmStreams = [
        "btcusdt@aggTrade", "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@depth@100ms", "btcusdt@depth5@100ms",
        "btcusdt@markPrice@1s", "!markPrice@arr@1s", "btcusdt@kline_1m", "btcusdt_perpetual@continuousKline_1m",
        "btcusdt@forceOrder", "btcusdt@ticker", "btcusdt@miniTicker", "!miniTicker@arr", "btcusdt@compositeIndex",
        "!contractInfo", "btcusd@assetIndex",
    ]
    static let coinmStreams = [
        "btcusd_perp@aggTrade", "btcusd@indexPrice@1s", "btcusd_perp@markPriceKline_1m", "btcusd@indexPriceKline_1m", "btcusd_perp@markPrice@1s",
    ]
    /// Entry types the simulator's streams produce (plus `raw`, from a normalized payload of
    /// a type the bridge does not model, and the markers).
    static let expectedTypes: Set<String> = [
        "agg_trade", "trade", "book_ticker", "depth_update", "depth_partial", "depth_snapshot", "mark_price", "kline", "continuous_kline",
        "liquidation", "ticker", "mini_ticker", "index_price", "contract_info", "composite_index", "asset_index", "raw", "gap", "status",
    ]

    @Test func everySchemaValidatesTheRealOutputItDescribes() async throws {
        var simulator = testSimulatorConfiguration()
        simulator.liquidationsPerSecond = 1
        simulator.contractInfoInterval = .seconds(1)
        let samples = FileManager.default.temporaryDirectory.appendingPathComponent("schema-samples-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: samples) }
        var counter = 0
        func save(_ schema: String, _ value: JSONValue) throws {
            counter += 1
            try Data(value.text.utf8).write(to: samples.appendingPathComponent("\(schema.replacingOccurrences(of: "/", with: "~")).\(counter).json"))
        }

        try await withBinanceSimulator(simulator) { simulator in
            var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
            // BTCUSDT's diff-depth stream keeps a book: `depth_snapshot` entries, `book_synced` events.
            configuration.books.symbols = ["BTCUSDT"]
            try await BridgeHarness.with(configuration) { bridge in
                try await withRedisSubscriber(try SharedRedis.configuration(), channels: ["\(bridge.prefix):events"]) { events in
                    var iterator = events.makeAsyncIterator()
                    _ = try await next(&iterator)  // subscribed

                    var commands: [JSONValue] = [
                        ["op": "subscribe", "id": 1, "streams": JSONValue(Self.usdmStreams)],
                        ["op": "subscribe", "id": "c", "market": "coinm", "streams": JSONValue(Self.coinmStreams)],
                    ]
                    for command in commands {
                        let reply = try await bridge.command(command)
                        #expect(reply["ok"] == true, "\(reply.text)")
                        try save("reply", reply)
                    }
                    try await eventually("every stream delivers", timeout: .seconds(30)) {
                        for stream in Self.usdmStreams where try await bridge.entries(stream).count < 2 { return false }
                        for stream in Self.coinmStreams where try await bridge.entries(stream, market: .coinm).count < 2 { return false }
                        return true
                    }
                    // Reconnect gaps: the exchange drops every connection.
                    _ = try await simulator.inject(.drop(.all))
                    try await eventually("reconnect gap markers", timeout: .seconds(30)) {
                        try await bridge.entries("btcusdt@aggTrade").contains { $0.fields["reason"] == "reconnect" }
                    }

                    // Every op, and errors.
                    let more: [JSONValue] = [
                        ["op": "list"], ["op": "list", "market": "coinm"], ["op": "status"], ["op": "ping", "id": 5], ["op": "reconcile"],
                        ["op": "instruments.reload"], ["op": "instruments.sync", "market": "coinm"],
                        ["op": "unsubscribe", "streams": ["btcusdt@trade", "ethusdt@trade"]],
                        ["op": "subscribe", "streams": ["btcusdt@depth@250ms"]], ["op": "nope"], ["op": "list", "market": "spot"], ["op": "subscribe"],
                    ]
                    for command in more {
                        let reply = try await bridge.command(command)
                        try save("reply", reply)
                        // The schema describes valid commands; the rejected ones test the replies.
                        if reply["ok"] == true { commands.append(command) }
                    }
                    for command in commands { try save("command", command) }

                    var types: Set<String> = []
                    for (market, streams) in [(BinanceMarket.usdm, Self.usdmStreams), (.coinm, Self.coinmStreams)] {
                        for stream in streams {
                            for entry in try await bridge.entries(stream, market: market).suffix(8) + bridge.entries(stream, market: market).prefix(2) {
                                guard let type = entry.fields["type"] else { continue }
                                types.insert(type)
                                try save("entries/\(type)", .object(entry.fields.mapValues { .string($0) }))
                            }
                        }
                    }
                    // `raw`: a stream type the bridge does not model (RPI depth; not simulated).
                    var text = #"{"stream":"btcusdt@rpiDepth@500ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}}"#
                    var raw: [StreamEntry] = []
                    try text.withUTF8 { utf8 in
                        try MarketDataNormalizer().normalize(
                            frame: UnsafeRawBufferPointer(utf8), stream: try BinanceStreamName("btcusdt@rpiDepth@500ms", market: .usdm),
                            receiveTimeMicroseconds: WallClock.microseconds(), into: &raw
                        )
                    }
                    for entry in raw {
                        types.insert(entry.type.rawValue)
                        try save("entries/raw", .object(Dictionary(uniqueKeysWithValues: entry.decodedFields.map { ($0.0, .string($0.1)) })))
                    }
                    #expect(types == Self.expectedTypes, "missing \(Self.expectedTypes.subtracting(types)), unexpected \(types.subtracting(Self.expectedTypes))")

                    for market in BinanceMarket.allCases {
                        let values = try await bridge.redis.send("HVALS", "\(bridge.prefix):instruments:\(market.rawValue)").array ?? []
                        #expect(!values.isEmpty)
                        for value in values { try save("instrument", try #require(JSONValue.parse(value.bytes ?? []))) }
                    }

                    // Events published meanwhile (bounded: what is buffered now, at most 2,000).
                    var eventCount = 0
                    var eventTypes: Set<String> = []
                    while eventCount < 2000, let event = try? await next(&iterator, within: .milliseconds(500)) {
                        guard case .message(let message) = event, let value = JSONValue.parse(message.payload) else { continue }
                        eventCount += 1
                        eventTypes.insert(value["type"]?.string ?? "?")
                        try save("event", value)
                    }
                    #expect(eventTypes.isSuperset(of: ["connection_opened", "connection_closed", "reconnected", "subscribed", "unsubscribed", "gap", "reply", "bad_command", "book_synced"]), "\(eventTypes)")
                }
            }
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.repositoryRoot.appendingPathComponent("scripts/validate-schemas.py").path,
                             Self.repositoryRoot.appendingPathComponent("docs/schema").path, samples.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text.prefix(4000))")
        #expect(text.contains("ok"), "\(text.prefix(2000))")
    }
}

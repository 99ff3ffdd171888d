import Bridge
import BridgeCore
import Logging
import RedisClient
import TestSupport
import Testing

/// The publisher against a real Redis: per stream kind `MAXLEN` overrides bound each stream.
@Suite("EntryPublisher", .timeLimit(.minutes(1)))
struct EntryPublisherTests {
    @Test func maxlenOverridesApplyPerStreamKind() async throws {
        let prefix = uniquePrefix()
        try await withRedisConnection(try SharedRedis.configuration()) { redis in
            let publisher = EntryPublisher(
                redis: redis,
                configuration: EntryPublisher.Configuration(prefix: prefix, maxlen: 5_000, maxlenByKind: [.aggTrade: 100]),
                logger: Logger(label: "publisher-test")
            )
            let running = Task { try await publisher.run() }
            let trades = try BinanceStreamName("btcusdt@aggTrade", market: .usdm)
            let marks = try BinanceStreamName("btcusdt@markPrice", market: .usdm)
            for round in 0..<4 {
                var entries: [StreamEntry] = []
                for index in 0..<500 {
                    let time = Int64(round * 500 + index)
                    entries.append(.status(stream: trades, .resumed, timeMicroseconds: time))
                    entries.append(.status(stream: marks, .resumed, timeMicroseconds: time))
                }
                publisher.enqueue(&entries)
            }
            try await eventually("all written") { publisher.statistics.written == 4_000 }
            publisher.finish()
            try await running.value
            let tradeLength = try #require(try await redis.send("XLEN", "\(prefix):usdm:btcusdt@aggTrade").integer)
            let markLength = try #require(try await redis.send("XLEN", "\(prefix):usdm:btcusdt@markPrice").integer)
            // `MAXLEN ~` trims whole macro-nodes (100 entries each by default): near, never below.
            #expect(tradeLength >= 100 && tradeLength <= 300, "\(tradeLength)")
            #expect(markLength == 2_000)
            #expect(publisher.statistics.dropped == 0)
        }
    }
}

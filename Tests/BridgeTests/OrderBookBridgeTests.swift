import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import TestSupport
import Testing

/// Local order books end to end: the bridge against the simulator over real sockets and its
/// REST API, writing into a real Redis; every book compared with the simulator's own book
/// (``BookChecksum`` at the same update id) through the `depth_snapshot` entries a consumer
/// reads, and through the bridge's books themselves.
@Suite("Order books through the bridge", .timeLimit(.minutes(3)))
struct OrderBookBridgeTests {
    static func configuration(_ simulator: BinanceSimulator) throws -> BridgeConfiguration {
        var configuration = try BridgeHarness.configuration(simulator: simulator, prefix: uniquePrefix())
        configuration.books.enabled = true
        configuration.books.snapshotEveryUpdates = 10
        configuration.books.snapshotTimeout = .milliseconds(500)
        return configuration
    }

    typealias Entry = (id: String, fields: [String: String])

    /// Every `depth_snapshot` of `entries` matches the simulator's book at its update id.
    static func expectSnapshotsMatch(_ entries: [Entry], _ simulator: BinanceSimulator, symbol: String) async throws -> Int {
        var checked = 0
        for entry in entries where entry.fields["type"] == "depth_snapshot" {
            let id = try #require(Int64(entry.fields["last_update_id"] ?? ""))
            let truth = try await simulator.bookChecksum(market: .usdm, symbol: symbol, at: id)
            #expect(truth != nil, "the simulator still remembers update \(id)")
            #expect(truth.map(String.init) == entry.fields["checksum"], "\(symbol) \(entry.fields["source"] ?? "") snapshot at \(id)")
            checked += 1
        }
        return checked
    }

    /// The update chain a consumer checks: after each `rest` snapshot, updates older than it
    /// are skipped, the first applied covers it, and every later `pu` is the previous `u`,
    /// until a `gap` marker (after which the next entry is a snapshot).
    static func expectChain(_ entries: [Entry], _ stream: String) {
        var last: Int64?
        var snapshot: Int64?
        var expectSnapshot = true
        for entry in entries {
            let fields = entry.fields
            switch fields["type"] {
            case "depth_snapshot" where fields["source"] == "rest":
                snapshot = Int64(fields["last_update_id"]!)
                last = nil
                expectSnapshot = false
            case "depth_update":
                #expect(!expectSnapshot, "\(stream): an update before a snapshot")
                let first = Int64(fields["first_update_id"]!)!
                let final = Int64(fields["final_update_id"]!)!
                let previous = Int64(fields["prev_final_update_id"]!)!
                if let value = last {
                    #expect(previous == value, "\(stream): pu \(previous) after u \(value)")
                    last = final
                } else if let snapshotId = snapshot, final >= snapshotId {
                    #expect(first <= snapshotId, "\(stream): the first update applied covers the snapshot")
                    last = final
                }
            case "gap":
                expectSnapshot = true
            default:
                break
            }
        }
    }

    @Test func booksSyncAndOnlyTheGappedSymbolResyncs() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator async throws in
            try await BridgeHarness.with(try Self.configuration(simulator)) { bridge in
                let streams = ["btcusdt@depth@100ms", "ethusdt@depth@100ms", "solusdt@depth@100ms"]
                let reply = try await bridge.command(["op": "subscribe", "market": "usdm", "streams": .array(streams.map { .string($0) })])
                #expect(reply["ok"] == true, "\(reply.text)")
                for stream in streams {
                    try await eventually("\(stream) synced and two book snapshots") {
                        try await bridge.entries(stream).filter { $0.fields["source"] == "book" }.count >= 2
                    }
                }
                // A lost event on ETHUSDT: its stream alone resyncs.
                try await simulator.inject(.sequenceGap(market: .usdm, symbol: "ETHUSDT"))
                try await eventually("ethusdt resynced", timeout: .seconds(20)) {
                    let entries = try await bridge.entries("ethusdt@depth@100ms")
                    guard let gap = entries.firstIndex(where: { $0.fields["type"] == "gap" }) else { return false }
                    return entries[gap...].filter { $0.fields["source"] == "book" }.count >= 2
                }
                for (stream, symbol) in zip(streams, ["BTCUSDT", "ETHUSDT", "SOLUSDT"]) {
                    let entries = try await bridge.entries(stream)
                    let data = entries.filter { $0.fields["type"] != "status" }
                    #expect(data.first?.fields["type"] == "depth_snapshot" && data.first?.fields["source"] == "rest", "\(stream) starts with a REST snapshot")
                    let gaps = entries.filter { $0.fields["type"] == "gap" }
                    let rest = entries.filter { $0.fields["source"] == "rest" }
                    if symbol == "ETHUSDT" {
                        #expect(gaps.count == 1 && rest.count == 2, "\(stream): \(gaps.count) gaps, \(rest.count) REST snapshots")
                        let gap = try #require(gaps.first?.fields)
                        #expect(gap["reason"] == "sequence")
                        let expected = try #require(Int64(gap["expected_prev_update_id"] ?? ""))
                        let got = try #require(Int64(gap["got_prev_update_id"] ?? ""))
                        #expect(got > expected, "the withheld event's u was skipped")
                        let index = entries.firstIndex { $0.fields["type"] == "gap" }!
                        #expect(entries[index + 1].fields["type"] == "depth_snapshot" && entries[index + 1].fields["source"] == "rest")
                    } else {
                        #expect(gaps.isEmpty && rest.count == 1, "\(stream) untouched: \(gaps.count) gaps, \(rest.count) REST snapshots")
                    }
                    Self.expectChain(entries, stream)
                    #expect(try await Self.expectSnapshotsMatch(entries, simulator, symbol: symbol) >= 3)
                    // The bridge's own book equals the simulator's at its update id.
                    let book = try #require(bridge.components.coordinator.markets[.usdm]?.books?.book(stream))
                    #expect(try await simulator.bookChecksum(market: .usdm, symbol: symbol, at: book.lastUpdateId) == book.checksum)
                }
                // `status` lists each book: synced, deep, and how often it synced.
                let status = try await bridge.command(["op": "status"])
                let books = try #require(status["result"]?["books"]?.array, "\(status.text)")
                #expect(books.compactMap { $0["stream"]?.string } == streams.sorted())
                for book in books {
                    #expect(book["market"] == "usdm" && book["synced"] == true, "\(book.text)")
                    #expect((book["bid_levels"]?.integer ?? 0) > 0 && (book["ask_levels"]?.integer ?? 0) > 0 && (book["last_update_id"]?.integer ?? 0) > 0, "\(book.text)")
                    #expect(book["syncs"]?.integer == (book["stream"] == "ethusdt@depth@100ms" ? 2 : 1), "\(book.text)")
                }
            }
        }
    }

    @Test func rateLimitsTimeoutsAndAReconnectDuringASync() async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator async throws in
            try await BridgeHarness.with(try Self.configuration(simulator)) { bridge in
                let stream = "btcusdt@depth@100ms"
                let fetcher = try #require(bridge.components.snapshotFetcher)
                func resynced(after count: Int) async throws {
                    try await eventually("a REST snapshot after \(count)", timeout: .seconds(30)) {
                        let entries = try await bridge.entries(stream)
                        guard let last = entries.lastIndex(where: { $0.fields["source"] == "rest" }) else { return false }
                        return entries.filter({ $0.fields["source"] == "rest" }).count > count && entries[last...].filter { $0.fields["source"] == "book" }.count >= 1
                    }
                }
                // 1. Two 429s before the first snapshot: each pauses every request for Retry-After.
                try await simulator.inject(.restLimit(status: 429, count: 2, retryAfter: 1))
                let start = ContinuousClock.now
                _ = try await bridge.command(["op": "subscribe", "market": "usdm", "streams": [.string(stream)]])
                try await resynced(after: 0)
                #expect(ContinuousClock.now - start >= .seconds(2), "two Retry-After pauses of 1 s")
                #expect(fetcher.statistics.rateLimited == 2)

                // 2. A 418 (ban) during a resync.
                try await simulator.inject(.restLimit(status: 418, count: 1, retryAfter: 1))
                try await simulator.inject(.sequenceGap(market: .usdm, symbol: "BTCUSDT"))
                try await resynced(after: 1)
                #expect(fetcher.statistics.rateLimited == 3)

                // 3. The API hangs past the bridge's 500 ms timeout: retried until it answers.
                // The stall lasts until the test lifts it, so a slow machine cannot outlive it.
                let failedBefore = fetcher.statistics.failed
                try await simulator.inject(.stallREST(seconds: 120))
                try await simulator.inject(.sequenceGap(market: .usdm, symbol: "BTCUSDT"))
                try await eventually("the snapshot request timed out", timeout: .seconds(30)) { fetcher.statistics.failed > failedBefore }
                try await simulator.inject(.clear)
                try await resynced(after: 2)

                // 4. The connection drops while the book waits for its snapshot.
                try await simulator.inject(.stallREST(seconds: 120))
                try await simulator.inject(.sequenceGap(market: .usdm, symbol: "BTCUSDT"))
                try await eventually("the book waits for a snapshot", timeout: .seconds(30)) {
                    try await bridge.entries(stream).filter { $0.fields["type"] == "gap" }.count == 3
                }
                try await simulator.inject(.drop(.all))
                try await eventually("the drop is marked", timeout: .seconds(30)) {
                    try await bridge.entries(stream).contains { $0.fields["type"] == "gap" && $0.fields["reason"] == "reconnect" }
                }
                try await simulator.inject(.clear)
                try await resynced(after: 3)

                let entries = try await bridge.entries(stream)
                let gaps = entries.filter { $0.fields["type"] == "gap" }.map { $0.fields["reason"] ?? "" }
                #expect(gaps.filter { $0 == "sequence" }.count == 3)
                #expect(gaps.contains("reconnect"), "the drop is marked: \(gaps)")
                Self.expectChain(entries, stream)
                #expect(try await Self.expectSnapshotsMatch(entries, simulator, symbol: "BTCUSDT") >= 8)
                let book = try #require(bridge.components.coordinator.markets[.usdm]?.books?.book(stream))
                #expect(try await simulator.bookChecksum(market: .usdm, symbol: "BTCUSDT", at: book.lastUpdateId) == book.checksum)
            }
        }
    }
}

import BridgeCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport
@testable import BinanceSimulator

@Suite("Simulator REST", .timeLimit(.minutes(2)))
struct SimRESTTests {
    static func get(_ port: Int, _ path: String) async throws -> (status: Int, headers: [AnyHashable: Any], json: Any) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        let http = response as! HTTPURLResponse
        return (http.statusCode, http.allHeaderFields, try JSONSerialization.jsonObject(with: data))
    }

    @Test func exchangeInfoDepthTimeAndPing() async throws {
        try await withBinanceSimulator(SimProtocolTests.configuration()) { simulator async throws in
            let info = try await Self.get(simulator.ports.usdm, "/fapi/v1/exchangeInfo")
            #expect(info.status == 200)
            let symbols = (info.json as! [String: Any])["symbols"] as! [[String: Any]]
            #expect(symbols.map { $0["symbol"] as! String } == ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
            let btc = symbols[0]
            let filters = btc["filters"] as! [[String: Any]]
            #expect(filters.first { $0["filterType"] as? String == "PRICE_FILTER" }?["tickSize"] as? String == "0.10")
            #expect(btc["status"] as? String == "TRADING" && btc["contractType"] as? String == "PERPETUAL")

            let coin = try await Self.get(simulator.ports.coinm, "/dapi/v1/exchangeInfo")
            let coinSymbols = (coin.json as! [String: Any])["symbols"] as! [[String: Any]]
            #expect(coinSymbols.first?["contractStatus"] as? String == "TRADING")
            #expect((coinSymbols.first?["contractSize"] as? NSNumber)?.intValue == 100)

            let depth = try await Self.get(simulator.ports.usdm, "/fapi/v1/depth?symbol=BTCUSDT&limit=5")
            let book = depth.json as! [String: Any]
            #expect(depth.status == 200 && (book["lastUpdateId"] as? NSNumber)?.int64Value ?? 0 > 0)
            let bids = book["bids"] as! [[String]]
            let asks = book["asks"] as! [[String]]
            #expect(bids.count == 5 && asks.count == 5)
            #expect(Double(bids[0][0])! < Double(asks[0][0])!)
            #expect(depth.headers["X-MBX-USED-WEIGHT-1M"] != nil || depth.headers["x-mbx-used-weight-1m"] != nil)

            let time = try await Self.get(simulator.ports.usdm, "/fapi/v1/time")
            let serverTime = ((time.json as! [String: Any])["serverTime"] as! NSNumber).doubleValue / 1000
            #expect(abs(serverTime - Date().timeIntervalSince1970) < 5)
            #expect(try await Self.get(simulator.ports.usdm, "/fapi/v1/ping").status == 200)
        }
    }

    @Test func binanceErrors() async throws {
        try await withBinanceSimulator(SimProtocolTests.configuration()) { simulator async throws in
            let invalid = try await Self.get(simulator.ports.usdm, "/fapi/v1/depth?symbol=NOPE")
            #expect(invalid.status == 400 && ((invalid.json as! [String: Any])["code"] as? NSNumber)?.intValue == -1121)
            let limit = try await Self.get(simulator.ports.usdm, "/fapi/v1/depth?symbol=BTCUSDT&limit=7")
            #expect(limit.status == 400 && ((limit.json as! [String: Any])["code"] as? NSNumber)?.intValue == -1100)
            #expect(try await Self.get(simulator.ports.coinm, "/fapi/v1/ping").status == 404)
            #expect(try await Self.get(simulator.ports.usdm, "/fapi/v1/depth").status == 400)
        }
    }

    @Test(arguments: SimFaultTests.Via.allCases)
    func injectedRateLimitsAndStalls(via: SimFaultTests.Via) async throws {
        try await withBinanceSimulator(SimProtocolTests.configuration { $0.adminPort = via == .admin ? 0 : nil }) { simulator async throws in
            try await SimFaultTests.inject(simulator, via, .restLimit(status: 429, count: 2, retryAfter: 3))
            for _ in 0..<2 {
                let limited = try await Self.get(simulator.ports.usdm, "/fapi/v1/depth?symbol=BTCUSDT&limit=5")
                #expect(limited.status == 429)
                #expect((limited.headers["Retry-After"] ?? limited.headers["retry-after"]) as? String == "3")
                #expect(((limited.json as! [String: Any])["code"] as? NSNumber)?.intValue == -1003)
            }
            #expect(try await Self.get(simulator.ports.coinm, "/dapi/v1/depth?symbol=BTCUSD_PERP&limit=5").status == 200)
            try await SimFaultTests.inject(simulator, via, .restLimit(status: 418, count: 1, retryAfter: 120))
            let banned = try await Self.get(simulator.ports.coinm, "/dapi/v1/ping")
            #expect(banned.status == 418 && (banned.headers["Retry-After"] ?? banned.headers["retry-after"]) as? String == "120")
            await #expect(throws: SimFaultError.self) { try await SimFaultTests.inject(simulator, via, .restLimit(status: 500, count: 1, retryAfter: 1)) }

            // Timed from before the fault: the stall runs from when the simulator handles it,
            // so a slow injection on a loaded machine cannot shorten what the client sees.
            let start = ContinuousClock.now
            try await SimFaultTests.inject(simulator, via, .stallREST(seconds: 1.5))
            let stalled = try await Self.get(simulator.ports.usdm, "/fapi/v1/ping")
            let waited = ContinuousClock.now - start
            #expect(stalled.status == 200)
            #expect(waited >= .milliseconds(1_300), "answered after \(waited)")
            let after = ContinuousClock.now
            _ = try await Self.get(simulator.ports.usdm, "/fapi/v1/ping")
            #expect(ContinuousClock.now - after < .seconds(1))
        }
    }

    /// Binance's sync procedure over real sockets: diffs from `btcusdt@depth@100ms` buffered,
    /// a `GET /fapi/v1/depth?limit=1000` snapshot, the first event straddling it, then every
    /// event's `pu` equal to the previous `u` for 100,000 updates; the rebuilt book's checksum
    /// equals the exchange's own book at the last `u`.
    @Test func restSnapshotPlusStreamedDiffsRebuildTheExchangesBook() async throws {
        let configuration = SimProtocolTests.configuration {
            $0.instruments = [SimInstrument.defaults[0]]
            $0.rate = 10_000
            // Remember far enough back that a consumer a few seconds behind still compares.
            $0.bookChecksumHistory = 400_000
        }
        let instrument = SimInstrument.defaults[0]
        try await withBinanceSimulator(configuration) { simulator async throws in
            let received = SimFaultTests.Received()
            let task = SimFaultTests.client(simulator.ports.usdm, "/public/ws/btcusdt@depth@100ms", received: received)
            try await TestSupport.eventually("diffs flow") { received.messages.count >= 2 }
            let snapshot = try #require(try await Self.get(simulator.ports.usdm, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000").json as? [String: Any])
            let start = try #require((snapshot["lastUpdateId"] as? NSNumber)?.int64Value)
            func finalId(_ text: String) -> Int64 {
                ((try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["u"] as? NSNumber)?.int64Value ?? 0
            }
            try await TestSupport.eventually("100,000 updates streamed", timeout: .seconds(90)) {
                received.texts.last.map { finalId($0) - start >= 100_000 } ?? false
            }
            task.cancel()
            let units = SimBookConsistencyTests.units
            var book = SimOrderBook(lastUpdateId: start)
            for (side, isBid) in [("bids", true), ("asks", false)] {
                for level in try #require(snapshot[side] as? [[String]]) {
                    book.apply(isBid: isBid, price: units(level[0], instrument.price.decimals), quantity: units(level[1], instrument.quantity.decimals), updateId: start)
                }
            }
            var previous: Int64?
            var applied = 0
            for text in received.texts {
                let event = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                let first = try #require((event["U"] as? NSNumber)?.int64Value)
                let final = try #require((event["u"] as? NSNumber)?.int64Value)
                let pu = try #require((event["pu"] as? NSNumber)?.int64Value)
                if final < start { continue }  // older than the snapshot: dropped
                if let previous {
                    #expect(pu == previous, "pu chain broken at u=\(final)")
                } else {
                    #expect(first <= start && final >= start, "the first event straddles the snapshot: U \(first) u \(final) lastUpdateId \(start)")
                }
                previous = final
                for (side, isBid) in [("b", true), ("a", false)] {
                    for level in try #require(event[side] as? [[String]]) {
                        book.apply(isBid: isBid, price: units(level[0], instrument.price.decimals), quantity: units(level[1], instrument.quantity.decimals), updateId: final)
                    }
                }
                applied += 1
            }
            #expect(applied > 20)
            #expect(book.lastUpdateId - start >= 100_000)
            func sum(_ levels: [SimOrderBook.Level], isBid: Bool) -> UInt64 {
                levels.reduce(0) { $0 &+ BookChecksum.level(isBid: isBid, price: $1.price, quantity: $1.quantity, priceDecimals: instrument.price.decimals, quantityDecimals: instrument.quantity.decimals) }
            }
            let rebuilt = sum(book.bids, isBid: true) &+ sum(book.asks, isBid: false)
            let truth = try await simulator.bookChecksum(market: .usdm, symbol: "BTCUSDT", at: book.lastUpdateId)
            #expect(truth != nil, "update \(book.lastUpdateId) is no longer in the exchange's history")
            #expect(rebuilt == truth, "\(book.bids.count) bids, \(book.asks.count) asks at u=\(book.lastUpdateId)")
        }
    }

    @Test func requestWeightGives429ThenTeapot() async throws {
        // Keep clear of a minute boundary, where Binance's window (and ours) resets: start
        // with at least 15 s left (a loaded machine was seen to need more than 5).
        let second = Int(Date().timeIntervalSince1970) % 60
        if second > 45 { try await Task.sleep(for: .seconds(61 - second)) }
        let configuration = SimProtocolTests.configuration { $0.restWeightPerMinute = 45 }
        try await withBinanceSimulator(configuration) { simulator async throws in
            let path = "/fapi/v1/depth?symbol=ETHUSDT&limit=1000"  // weight 20
            #expect(try await Self.get(simulator.ports.usdm, path).status == 200)
            #expect(try await Self.get(simulator.ports.usdm, path).status == 200)
            let limited = try await Self.get(simulator.ports.usdm, path)
            #expect(limited.status == 429)
            #expect(((limited.json as! [String: Any])["code"] as? NSNumber)?.intValue == -1003)
            #expect(limited.headers["Retry-After"] != nil || limited.headers["retry-after"] != nil)
            #expect(try await Self.get(simulator.ports.usdm, path).status == 429)
            // A light request that still fits the budget is served...
            #expect(try await Self.get(simulator.ports.usdm, "/fapi/v1/ping").status == 200)
            // ...the third over-limit request bans the IP; the budget and the ban are shared by
            // both markets (one back end since 2026-06-30).
            #expect(try await Self.get(simulator.ports.coinm, "/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000").status == 418)
            #expect(try await Self.get(simulator.ports.usdm, "/fapi/v1/ping").status == 418)
        }
    }
}

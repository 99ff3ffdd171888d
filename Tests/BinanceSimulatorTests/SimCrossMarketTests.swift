import Foundation
import Testing
@testable import BinanceSimulator

/// Since the 2026-06-30 merge the all-market streams carry both universes on both hosts,
/// each row marked with `st` (1 USD-M, 2 COIN-M).
@Suite("Simulator all-market streams across markets", .timeLimit(.minutes(1)))
struct SimCrossMarketTests {
    @Test func bothHostsCarryBothUniversesMarkedWithSt() async throws {
        try await withBinanceSimulator(SimFaultTests.configuration()) { simulator async throws in
            let coin = SimFaultTests.Received(), usd = SimFaultTests.Received()
            let a = SimFaultTests.client(simulator.ports.coinm, "/ws/!bookTicker", received: coin)
            let b = SimFaultTests.client(simulator.ports.usdm, "/market/ws/!ticker@arr", received: usd)
            try await SimFaultTests.eventually("rows of both markets on COIN-M's !bookTicker") {
                coin.count(containing: #""s":"BTCUSDT""#) > 0 && coin.count(containing: #""s":"BTCUSD_PERP""#) > 0
            }
            try await SimFaultTests.eventually("one !ticker@arr array") { usd.messages.count >= 1 }
            a.cancel(); b.cancel()
            for text in coin.texts {
                let row = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                let symbol = row["s"] as! String
                #expect(row["st"] as? Int == (symbol.contains("_") ? 2 : 1), "\(text)")
            }
            let array = try #require(try JSONSerialization.jsonObject(with: Data(usd.texts[0].utf8)) as? [[String: Any]])
            // The test configuration trades BTCUSDT, ETHUSDT and BTCUSD_PERP: one array, USD-M rows first.
            #expect(array.map { $0["s"] as! String } == ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"])
            #expect(array.map { $0["st"] as! Int } == [1, 1, 2])
        }
    }
}

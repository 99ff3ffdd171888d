import BridgeCore
import Foundation
import Testing
@testable import BinanceSimulator

private typealias H = SimFeedHarness

@Suite("Simulator rates and determinism")
struct SimRateTests {
    /// Runs `seconds` of fake time; returns (actions, aggTrade messages) per symbol.
    static func counts(_ feed: SimMarketFeed, seconds: Int) -> (actions: Int, trades: [String: Int]) {
        let wanted = Set(feed.models.map { $0.instrument.streamSymbol + "@aggTrade" })
        let messages = H.run(feed, ticks: seconds * 100 + 1, wanted: wanted)
        return (feed.actionCount, Dictionary(grouping: messages, by: \.stream).mapValues(\.count))
    }

    /// The actions are exactly rate × time; the trades are exactly all of them at ratio 1,
    /// none at 0, and the configured share (4 σ) in between. (At ratio 1 the takers eat the
    /// book: after about 1,800 trades a side is empty and the model updates the book instead,
    /// so the exact case runs 1,000 actions per symbol.)
    @Test func tradeRatioSetsTheShareOfTrades() {
        let rate = 100.0
        for (ratio, seconds, exact) in [(1.0, 10, true), (0.0, 20, true), (0.5, 20, false), (0.2, 20, false), (0.05, 20, false)] {
            let perSymbol = Int(rate) * seconds
            let feed = H.feed(.usdm, rate: rate) { $0.tradeRatio = ratio }
            let (actions, trades) = Self.counts(feed, seconds: seconds)
            #expect(actions == 3 * perSymbol, "ratio \(ratio)")
            for instrument in feed.models.map(\.instrument) {
                let count = trades[instrument.streamSymbol + "@aggTrade"] ?? 0
                if exact {
                    #expect(count == Int(ratio) * perSymbol, "ratio \(ratio) \(instrument.symbol)")
                } else {
                    let expected = ratio * Double(perSymbol)
                    let tolerance = 4 * (Double(perSymbol) * ratio * (1 - ratio)).squareRoot()
                    #expect(abs(Double(count) - expected) <= tolerance, "ratio \(ratio) \(instrument.symbol): \(count) trades, expected \(expected) ± \(tolerance)")
                }
            }
        }
    }

    /// `aggregateRate` is split evenly over every configured symbol of both markets and
    /// overrides `rate`: 600 a second over 6 symbols is exactly 100 each.
    @Test func aggregateRateSplitsEvenlyAcrossBothMarkets() {
        var configuration = SimulatorConfiguration()
        configuration.rate = 50
        #expect(configuration.ratePerSymbol == 50)
        configuration.aggregateRate = 600
        #expect(configuration.ratePerSymbol == 100)
        var total = 0
        for market in BinanceMarket.allCases {
            let feed = SimMarketFeed(market: market, configuration: configuration)
            #expect(feed.rate == 100)
            let (actions, _) = Self.counts(feed, seconds: 10)
            #expect(actions == 3 * 1_000, "\(market)")
            total += actions
        }
        #expect(total == 6_000)
        // Fewer symbols: the same aggregate, a larger share each.
        configuration.instruments = Array(SimInstrument.defaults.prefix(2))
        #expect(configuration.ratePerSymbol == 300)
        let feed = SimMarketFeed(market: .usdm, configuration: configuration)
        #expect(Self.counts(feed, seconds: 10).actions == 2 * 3_000)
        #expect(SimMarketFeed(market: .coinm, configuration: configuration).models.isEmpty)
        // Without it, `rate` per symbol.
        configuration.aggregateRate = nil
        #expect(Self.counts(SimMarketFeed(market: .usdm, configuration: configuration), seconds: 10).actions == 2 * 500)
    }

    /// Per stream type: `aggTrade=` sets the trades and `depth=` the other book changes per
    /// symbol, each replacing its part of rate × ratio; the action count is exactly their sum
    /// and the trades are their share (4 σ).
    @Test func streamRatesReplaceTheirPartOfTheActions() throws {
        for (settings, rate, ratio) in [([("aggTrade", 40.0), ("depth", 160.0)], 200.0, 0.2), ([("trade", 30.0)], 110.0, 30.0 / 110), ([("depth", 20.0)], 40.0, 0.5)] {
            var configuration = SimulatorConfiguration()
            configuration.rate = 100
            configuration.tradeRatio = 0.2
            for (type, value) in settings { try configuration.setStreamRate(type, perSecond: value) }
            let actions = configuration.actionsPerSymbol
            #expect(abs(actions.rate - rate) < 1e-9 && abs(actions.tradeRatio - ratio) < 1e-9, "\(settings): \(actions)")
            let feed = SimMarketFeed(market: .usdm, configuration: configuration)
            let seconds = 20
            let (count, trades) = Self.counts(feed, seconds: seconds)
            #expect(count == 3 * Int(rate) * seconds, "\(settings)")
            let perSymbol = rate * Double(seconds)
            for instrument in feed.models.map(\.instrument) {
                let got = Double(trades[instrument.streamSymbol + "@aggTrade"] ?? 0)
                let tolerance = 4 * (perSymbol * ratio * (1 - ratio)).squareRoot()
                #expect(abs(got - perSymbol * ratio) <= tolerance, "\(settings) \(instrument.symbol): \(got) trades, expected \(perSymbol * ratio) ± \(tolerance)")
            }
        }
    }

    /// `ticker=`, `kline=` and `contractInfo=` set their push periods: consecutive event
    /// times are exactly 1/N apart; the defaults stay 1 s and 250 ms.
    @Test func streamRatesSetThePeriodicPushes() throws {
        func spacing(_ configuration: SimulatorConfiguration, _ stream: String, seconds: Int) -> Set<Int64> {
            let messages = H.run(SimMarketFeed(market: .usdm, configuration: configuration), ticks: seconds * 100 + 1, wanted: [stream])
            let times = messages.map(\.tick)
            return Set(zip(times.dropFirst(), times).map { $0 - $1 })
        }
        var configuration = SimulatorConfiguration()
        configuration.rate = 20
        #expect(spacing(configuration, "btcusdt@ticker", seconds: 5) == [1_000])
        #expect(spacing(configuration, "btcusdt@kline_1m", seconds: 3) == [250])
        try configuration.setStreamRate("ticker", perSecond: 4)
        try configuration.setStreamRate("kline", perSecond: 2)
        try configuration.setStreamRate("contractInfo", perSecond: 0.5)
        try configuration.setStreamRate("forceOrder", perSecond: 1)
        #expect(spacing(configuration, "btcusdt@ticker", seconds: 5) == [250])
        #expect(spacing(configuration, "!miniTicker@arr", seconds: 5) == [250])
        #expect(spacing(configuration, "btcusdt@kline_5m", seconds: 5) == [500])
        #expect(spacing(configuration, "btcusdt_perpetual@continuousKline_1m", seconds: 5) == [500])
        let contractInfo = H.run(SimMarketFeed(market: .usdm, configuration: configuration), ticks: 10 * 100 + 1, wanted: ["!contractInfo"])
        #expect(contractInfo.count == 5 * 3, "one per symbol every 2 s")
        // A period off the 10 ms tick (ticker=3: 333 ms) keeps its average: 30 in 10 s.
        try configuration.setStreamRate("ticker", perSecond: 3)
        let tickers = H.run(SimMarketFeed(market: .usdm, configuration: configuration), ticks: 10 * 100, wanted: ["btcusdt@ticker"])
        #expect((29...30).contains(tickers.count), "\(tickers.count) tickers in 10 s at 3 a second")
        #expect(configuration.liquidationsPerSecond == 1)
    }

    /// Types whose rate Binance fixes, or that follow from others, and values out of range
    /// are refused with the reason.
    @Test func streamRatesRefuseWhatCannotBeSet() {
        for (type, value, message) in [
            ("markPrice", 1.0, "fixes its rate in the stream name"), ("depth5", 1, "fixes its rate"), ("bookTicker", 5, "pushes when the top of the book changes"),
            ("kline_1m", 1, "unknown stream type"), ("aggTrade", -1, "0 or more"), ("aggTrade", .nan, "0 or more"),
            ("forceOrder", 2, "at most one liquidation"), ("ticker", 0, "at least one a day"), ("contractInfo", 1e-9, "at least one a day"), ("ticker", 1_000, "at most 100"),
        ] {
            var configuration = SimulatorConfiguration()
            #expect(throws: SimConfigurationError.self, "\(type)=\(value)") { try configuration.setStreamRate(type, perSecond: value) }
            do { try configuration.setStreamRate(type, perSecond: value) } catch {
                #expect(error.description.contains(message), "\(type)=\(value): \(error)")
            }
        }
    }

    /// Every stream, old and new, of both markets.
    static func everyStream(_ market: BinanceMarket) -> Set<String> {
        var names: Set<String> = ["!bookTicker", "!ticker@arr", "!miniTicker@arr", "!markPrice@arr", "!markPrice@arr@1s", "!forceOrder@arr", "!contractInfo", "!assetIndex@arr"]
        for instrument in SimInstrument.defaults where instrument.market == market {
            let s = instrument.streamSymbol
            let pair = instrument.pair.lowercased()
            let pairAndType = pair + "_" + instrument.contractType.lowercased()
            names.formUnion([
                s + "@aggTrade", s + "@trade", s + "@bookTicker", s + "@depth", s + "@depth@100ms", s + "@depth10", s + "@markPrice", s + "@markPrice@1s",
                s + "@kline_1m", s + "@kline_5m", s + "@ticker", s + "@miniTicker", s + "@forceOrder", s + "@compositeIndex", s + "@markPriceKline_1m",
                pairAndType + "@continuousKline_1m", pairAndType + "@continuousKline_1h", pair + "@indexPrice", pair + "@indexPrice@1s", pair + "@markPrice",
                pair + "@markPrice@1s", pair + "@indexPriceKline_1m", pairAndType + "@indexPriceKline_1m", instrument.baseAsset.lowercased() + "usd@assetIndex",
            ])
        }
        return names
    }

    static func output(_ market: BinanceMarket, seed: UInt64) -> [String] {
        let feed = H.feed(market, seed: seed, rate: 100) { $0.contractInfoInterval = .seconds(10); $0.liquidationsPerSecond = 0.5 }
        return H.run(feed, ticks: 30 * 100 + 1, wanted: everyStream(market)).map { $0.stream + " " + $0.text }
    }

    /// The same seed gives byte-identical output on every stream, old and new; another seed
    /// does not.
    @Test(arguments: [BinanceMarket.usdm, .coinm])
    func sameSeedSameOutput(market: BinanceMarket) {
        let first = Self.output(market, seed: 21)
        let again = Self.output(market, seed: 21)
        let other = Self.output(market, seed: 22)
        #expect(first.count > 10_000)
        #expect(first == again)
        #expect(first != other)
        let types = Set(first.map { String($0.split(separator: " ")[0]) })
        for name in ["!forceOrder@arr", "!contractInfo"] { #expect(types.contains(name)) }
        if market == .usdm {
            for name in ["btcusdt_perpetual@continuousKline_1m", "btcusdt@compositeIndex", "btcusd@assetIndex", "!assetIndex@arr"] { #expect(types.contains(name)) }
        } else {
            for name in ["btcusd_current_quarter@continuousKline_1m", "btcusd@indexPrice", "btcusd@markPrice", "btcusd_perp@markPriceKline_1m", "btcusd_perpetual@indexPriceKline_1m"] {
                #expect(types.contains(name))
            }
        }
    }

    /// The default trade ratio (and the new streams' own generators) leave a seed's market
    /// exactly as it was before they existed: the aggTrade, trade, bookTicker, depth, kline
    /// and ticker output of seed 1 over 60 s hashes to the value recorded at 9b2ba3a, before
    /// any of this change.
    @Test func defaultTradeRatioKeepsTheSeedsMarket() {
        var names: [String] = []
        for instrument in SimInstrument.defaults {
            let s = instrument.streamSymbol
            names += [s + "@aggTrade", s + "@trade", s + "@bookTicker", s + "@depth", s + "@depth@100ms", s + "@depth5@500ms", s + "@kline_1m", s + "@ticker", s + "@miniTicker"]
        }
        names += ["!bookTicker", "!ticker@arr", "!miniTicker@arr"]
        let wanted = Set(names)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64
        var count = 0
        for market in [BinanceMarket.usdm, .coinm] {
            let feed = SimMarketFeed(market: market, instruments: SimInstrument.defaults, seed: 1, rate: 50)
            var now: Int64 = 1_800_000_000_000
            for _ in 0..<6_000 {
                feed.advance(to: now, wants: { wanted.contains($0) }) { name, payload in
                    count += 1
                    // `!ticker@arr` / `!miniTicker@arr` rows gained the `st` universe marker
                    // after 9b2ba3a (a deliberate format change); everything else is unchanged.
                    let comparable = name.hasSuffix("icker@arr") ? payload.replacingOccurrences(of: #","st":1}"#, with: "}").replacingOccurrences(of: #","st":2}"#, with: "}") : payload
                    for byte in (name + "|" + comparable).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                }
                now += 10
            }
        }
        #expect(count == 26_932)
        #expect(hash == 10_806_594_509_881_947_332)
    }
}

import BridgeCore
import Foundation
import Testing
@testable import BinanceSimulator

private typealias H = SimFeedHarness

@Suite("Simulator stream names (new types)")
struct SimStreamNameTests {
    @Test func newStreamNamesParseAndRouteToMarket() {
        let expected: [(String, SimStream.Kind, String?)] = [
            ("btcusdt_perpetual@continuousKline_1m", .continuousKline(contractType: "PERPETUAL", interval: "1m"), "btcusdt"),
            ("btcusd_current_quarter@continuousKline_4h", .continuousKline(contractType: "CURRENT_QUARTER", interval: "4h"), "btcusd"),
            ("btcusd_next_quarter@continuousKline_1M", .continuousKline(contractType: "NEXT_QUARTER", interval: "1M"), "btcusd"),
            ("btcusdt@forceOrder", .forceOrder, "btcusdt"),
            ("!forceOrder@arr", .forceOrder, nil),
            ("btcusdt@compositeIndex", .compositeIndex, "btcusdt"),
            ("!contractInfo", .contractInfo, nil),
            ("btcusd@assetIndex", .assetIndex, "btcusd"),
            ("!assetIndex@arr", .assetIndex, nil),
            ("btcusd@indexPrice", .indexPrice(seconds: 3), "btcusd"),
            ("btcusd@indexPrice@1s", .indexPrice(seconds: 1), "btcusd"),
            ("btcusd_perp@markPriceKline_1m", .markPriceKline(interval: "1m"), "btcusd_perp"),
            ("btcusd@indexPriceKline_5m", .indexPriceKline(contractType: nil, interval: "5m"), "btcusd"),
            ("btcusd_perpetual@indexPriceKline_1m", .indexPriceKline(contractType: "PERPETUAL", interval: "1m"), "btcusd"),
            ("btcusd@markPrice@1s", .markPrice(seconds: 1), "btcusd"),
        ]
        for (name, kind, symbol) in expected {
            let stream = SimStream.parse(name)
            #expect(stream?.kind == kind, "\(name)")
            #expect(stream?.symbol == symbol, "\(name)")
            #expect(stream?.name == name)
            #expect(SimStream.isWellFormed(name))
            #expect(SimStream.route(of: name) == .market, "\(name) belongs on /market")
        }
        // Well-formed but not Binance's: acked and silent.
        for name in [
            "btcusdt_weekly@continuousKline_1m", "btcusdt@continuousKline_1m", "btcusdt_perpetual@continuousKline_7m",
            "btcusdt_perpetual@continuousKline_1m@1s", "btcusdt@forceOrder@1s", "btcusd@indexPrice@3s", "btcusd@indexPrice@500ms",
            "btcusd_quarter@indexPriceKline_1m", "btcusd@indexPriceKline_2m", "btcusd_perp@markPriceKline", "!forceOrder",
            "!contractInfo@arr", "!assetIndex", "BTCUSDT@forceOrder", "btcusdt@compositeIndex@1s",
        ] {
            #expect(SimStream.parse(name) == nil, "\(name)")
            #expect(SimStream.route(of: name) == .market)
        }
        #expect(SimStream.route(of: "btcusdt@depth5@100ms") == .public)
    }

    @Test func ratiosAreExactFractions() {
        func fraction(_ value: Double) -> [Int] { [SimRatio(value).numerator, SimRatio(value).denominator] }
        #expect(fraction(0.2) == [1, 5])  // the draw the model always made: below(5) < 1
        #expect(fraction(0.25) == [1, 4])
        #expect(fraction(0) == [0, 1])
        #expect(fraction(1) == [1, 1])
        #expect(fraction(1.7) == [1, 1])
        #expect(fraction(0.1234567) == [123_457, 1_000_000])
    }
}

@Suite("Simulator continuous klines")
struct SimContinuousKlineTests {
    static let klineFields: Set<String> = ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]

    /// A continuous kline is the kline of the contract with that pair and contract type, over
    /// the same trades: the same feed (same seed) run once with the kline and once with the
    /// continuous kline gives identical `k` objects, less `k.s`, at the same ticks.
    @Test(arguments: [
        (BinanceMarket.usdm, "btcusdt_perpetual", "BTCUSDT"),
        (.usdm, "solusdt_perpetual", "SOLUSDT"),
        (.coinm, "btcusd_perpetual", "BTCUSD_PERP"),
        (.coinm, "btcusd_current_quarter", "BTCUSD_261225"),
    ])
    func continuousKlineIsTheContractsKline(market: BinanceMarket, pairAndType: String, symbol: String) throws {
        let instrument = H.instrument(symbol)
        let continuous = pairAndType + "@continuousKline_1m"
        let kline = instrument.streamSymbol + "@kline_1m"
        // 70 s: crosses a minute boundary, so a window rolls over.
        let a = H.run(H.feed(market), ticks: 7_001, wanted: [continuous, instrument.streamSymbol + "@aggTrade"])
        let b = H.run(H.feed(market), ticks: 7_001, wanted: [kline])
        let continuousEvents = a.filter { $0.stream == continuous }
        let klineEvents = b.filter { $0.stream == kline }
        #expect(continuousEvents.count == 280)  // every 250 ms
        #expect(continuousEvents.count == klineEvents.count)
        for (c, k) in zip(continuousEvents, klineEvents) {
            #expect(c.tick == k.tick)
            let event = c.object
            #expect(Set(event.keys) == ["e", "E", "ps", "ct", "k"])
            #expect(event["e"] as? String == "continuous_kline")
            #expect(H.int(event["E"]) == c.tick)
            #expect(event["ps"] as? String == instrument.pair)
            #expect(event["ct"] as? String == instrument.contractType)
            var expected = k.object["k"] as! [String: Any]
            #expect(expected.removeValue(forKey: "s") as? String == symbol)
            let body = event["k"] as! [String: Any]
            #expect(Set(body.keys) == Self.klineFields.subtracting(["s"]))
            #expect(H.canonical(body) == H.canonical(expected), "\(c.text) vs \(k.text)")
            for key in ["o", "c", "h", "l"] { #expect(H.isDecimal(body[key], decimals: instrument.price.decimals)) }
            for key in ["v", "V"] { #expect(H.isDecimal(body[key], decimals: instrument.quantity.decimals)) }
            for key in ["t", "T", "f", "L", "n"] { #expect(H.isInteger(body[key])) }
            #expect(H.isBoolean(body["x"]))
        }
        // And it sums the contract's own trades: the window's trade-id range selects them.
        let last = try #require(continuousEvents.last?.object["k"] as? [String: Any])
        let trades = a.filter { $0.stream.hasSuffix("@aggTrade") && H.int($0.object["f"]) >= H.int(last["f"]) && H.int($0.object["f"]) <= H.int(last["L"]) }
        #expect(trades.count > 50)
        #expect(H.int(last["n"]) == Int64(trades.count))
        #expect(H.units(last["v"], instrument.quantity.decimals) == trades.map { H.units($0.object["q"], instrument.quantity.decimals) }.reduce(0, +))
        #expect(last["c"] as? String == trades.last?.object["p"] as? String)
    }
}

@Suite("Simulator liquidations")
struct SimForceOrderTests {
    static let orderFields: Set<String> = ["s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T"]

    /// Over 2,000 fake seconds: per symbol at most one liquidation per second (pushes ≥ 1 s
    /// apart, each one's `T` inside the second before its push), at the configured rate within
    /// four standard deviations, with Binance's fields; `!forceOrder@arr` carries each one as
    /// its own message with `st`.
    @Test(arguments: [(BinanceMarket.usdm, 0.2), (.coinm, 0.2), (.usdm, 0.7)])
    func forceOrderAtMostOnePerSecondAtTheConfiguredRate(market: BinanceMarket, perSecond: Double) {
        let seconds = 2_000
        let feed = H.feed(market, rate: 5) { $0.liquidationsPerSecond = perSecond }
        let symbols = SimInstrument.defaults.filter { $0.market == market }
        let wanted = Set(symbols.map { $0.streamSymbol + "@forceOrder" } + ["!forceOrder@arr"])
        let messages = H.run(feed, ticks: seconds * 100 + 1, wanted: wanted)
        let all = messages.filter { $0.stream == "!forceOrder@arr" }
        var total = 0
        for instrument in symbols {
            let own = messages.filter { $0.stream == instrument.streamSymbol + "@forceOrder" }
            total += own.count
            let expected = perSecond * Double(seconds)
            let tolerance = 4 * (Double(seconds) * perSecond * (1 - perSecond)).squareRoot()
            #expect(abs(Double(own.count) - expected) <= tolerance, "\(instrument.symbol): \(own.count) liquidations, expected \(expected) ± \(tolerance)")
            var previousPush: Int64?
            for message in own {
                let event = message.object
                #expect(Set(event.keys) == ["e", "E", "o"])
                #expect(event["e"] as? String == "forceOrder")
                let pushed = H.int(event["E"])
                #expect(pushed == message.tick && (pushed - H.start) % 1_000 == 0, "pushed on the window's end tick")
                let order = event["o"] as! [String: Any]
                #expect(Set(order.keys) == Self.orderFields.union(market == .coinm ? ["ps"] : []))
                let executed = H.int(order["T"])
                #expect((executed - H.start) % 10 == 0, "T is a tick time")
                #expect(executed > pushed - 1_000 && executed <= pushed)
                if let previousPush {
                    #expect(pushed - previousPush >= 1_000)
                    #expect(executed > previousPush)
                }
                previousPush = pushed
                #expect(order["s"] as? String == instrument.symbol)
                if market == .coinm { #expect(order["ps"] as? String == instrument.pair) }
                #expect(order["o"] as? String == "LIMIT" && order["f"] as? String == "IOC" && order["X"] as? String == "FILLED")
                for key in ["q", "l", "z"] { #expect(H.isDecimal(order[key], decimals: instrument.quantity.decimals)) }
                for key in ["p", "ap"] { #expect(H.isDecimal(order[key], decimals: instrument.price.decimals)) }
                #expect(order["q"] as? String == order["l"] as? String && order["q"] as? String == order["z"] as? String)
                #expect(H.units(order["q"], instrument.quantity.decimals) > 0)
                let limit = H.units(order["p"], instrument.price.decimals)
                let average = H.units(order["ap"], instrument.price.decimals)
                let side = order["S"] as? String
                #expect(side == "SELL" ? limit < average : (side == "BUY" && limit > average), "a liquidation's limit is beyond its fill")
                #expect(limit % instrument.tick == 0 && average % instrument.tick == 0)
            }
        }
        // The all-market stream: the same liquidations, one message each, plus st.
        #expect(all.count == total)
        let own = messages.filter { $0.stream != "!forceOrder@arr" }
        for (row, single) in zip(all, own) {
            var event = row.object
            #expect(H.int(event.removeValue(forKey: "st")) == (market == .usdm ? 1 : 2))
            #expect(H.canonical(event) == H.canonical(single.object))
        }
    }

    /// Rate 1: exactly one liquidation every second; rate 0: none.
    @Test func forceOrderExactCountsAtTheBounds() {
        let every = H.run(H.feed(.usdm, rate: 5) { $0.liquidationsPerSecond = 1 }, ticks: 100 * 100 + 1, wanted: ["ethusdt@forceOrder"])
        #expect(every.count == 100)
        #expect(every.map(\.tick) == (1...100).map { H.start + Int64($0) * 1_000 })
        let none = H.run(H.feed(.usdm, rate: 5) { $0.liquidationsPerSecond = 0 }, ticks: 100 * 100 + 1, wanted: ["ethusdt@forceOrder", "!forceOrder@arr"])
        #expect(none.isEmpty)
    }
}

@Suite("Simulator index streams")
struct SimIndexStreamTests {
    /// `compositeIndex` every second: `p` is Σ `W`·`i` of its constituents, `w`·`i` = `W`·`p`,
    /// weights sum to 1, and every constituent is within three ticks of the mark price the
    /// feed shows at the same tick.
    @Test func compositeIndexIsAWeightedMeanNearTheMarkPrice() {
        let instrument = H.instrument("BTCUSDT")
        let messages = H.run(H.feed(.usdm), ticks: 30 * 100 + 1, wanted: ["btcusdt@compositeIndex", "btcusdt@markPrice@1s"])
        let events = messages.filter { $0.stream == "btcusdt@compositeIndex" }
        #expect(events.map(\.tick) == (1...30).map { H.start + Int64($0) * 1_000 })
        let marks = Dictionary(uniqueKeysWithValues: messages.filter { $0.stream == "btcusdt@markPrice@1s" }.map { ($0.tick, H.units($0.object["p"], 8)) })
        var moved = false
        for message in events {
            let event = message.object
            #expect(Set(event.keys) == ["e", "E", "s", "p", "C", "c"])
            #expect(event["e"] as? String == "compositeIndex" && event["s"] as? String == "BTCUSDT" && event["C"] as? String == "baseAsset")
            #expect(H.int(event["E"]) == message.tick)
            #expect(H.isDecimal(event["p"], decimals: 8))
            let index = H.units(event["p"], 8)
            let components = event["c"] as! [[String: Any]]
            #expect(components.count == 3)
            var weightSum: Int64 = 0
            var weighted: Double = 0
            let mark = marks[message.tick]!
            for component in components {
                #expect(Set(component.keys) == ["b", "q", "w", "W", "i"])
                #expect(component["b"] as? String == "BTC")
                for key in ["w", "W", "i"] { #expect(H.isDecimal(component[key], decimals: 8)) }
                let percent = H.units(component["W"], 8)
                let price = H.units(component["i"], 8)
                let quantityWeight = H.units(component["w"], 8)
                weightSum += percent
                weighted += Double(percent) * Double(price) / 1e8
                #expect(abs(price - mark) <= 3 * instrument.tick * 1_000_000, "constituent within 3 ticks of the mark")
                if price != mark { moved = true }
                // w·i = W·p, to the 10⁻⁸ the weights are printed with.
                #expect(abs(Double(quantityWeight) * Double(price) - Double(percent) * Double(index)) <= Double(price) * 1.0001)
            }
            #expect(weightSum == 100_000_000)
            #expect(abs(weighted - Double(index)) <= 1)
        }
        #expect(moved, "constituents are not all the fair price")
        #expect(Set(events.map { $0.object["p"] as! String }).count > 1)
    }

    /// `btcusd@assetIndex` and `!assetIndex@arr` every second: the index is the BTCUSDT mark
    /// at that tick and the rates are the index ∓ the buffers.
    @Test func assetIndexFollowsTheMarkPrice() {
        let messages = H.run(H.feed(.usdm), ticks: 10 * 100 + 1, wanted: ["btcusd@assetIndex", "!assetIndex@arr", "btcusdt@markPrice@1s", "ethusdt@markPrice@1s"])
        let own = messages.filter { $0.stream == "btcusd@assetIndex" }
        let rows = messages.filter { $0.stream == "!assetIndex@arr" }
        #expect(own.map(\.tick) == (1...10).map { H.start + Int64($0) * 1_000 })
        #expect(rows.map(\.tick) == own.map(\.tick))
        let marks = Dictionary(messages.filter { $0.stream.hasSuffix("@markPrice@1s") }.map { ("\($0.tick)" + ($0.object["s"] as! String), $0.object["p"] as! String) }) { a, _ in a }
        for (single, row) in zip(own, rows) {
            let event = single.object
            #expect(Set(event.keys) == ["e", "E", "s", "i", "b", "a", "B", "A", "q", "g", "Q", "G"])
            #expect(event["e"] as? String == "assetIndexUpdate" && event["s"] as? String == "BTCUSD")
            #expect(H.int(event["E"]) == single.tick)
            for key in ["i", "b", "a", "B", "A", "q", "g", "Q", "G"] { #expect(H.isDecimal(event[key], decimals: 8)) }
            #expect(event["i"] as? String == marks["\(single.tick)BTCUSDT"])
            let index = H.units(event["i"], 8)
            #expect(event["b"] as? String == "0.10000000" && event["q"] as? String == "0.05000000")
            #expect(abs(H.units(event["B"], 8) - index * 9 / 10) <= 1 && abs(H.units(event["A"], 8) - index * 11 / 10) <= 1)
            #expect(abs(H.units(event["Q"], 8) - index * 95 / 100) <= 1 && abs(H.units(event["G"], 8) - index * 105 / 100) <= 1)
            let array = row.array
            #expect(array.map { $0["s"] as! String } == ["BTCUSD", "ETHUSD", "SOLUSD"])
            #expect(H.canonical(array[0]) == H.canonical(event))
            #expect(array[1]["i"] as? String == marks["\(single.tick)ETHUSDT"])
        }
    }

    /// `!contractInfo`: one message per symbol every interval (none before the first), with the
    /// instrument's metadata, numeric brackets and `st`.
    @Test(arguments: [BinanceMarket.usdm, .coinm])
    func contractInfoEveryIntervalPerSymbol(market: BinanceMarket) {
        let messages = H.run(H.feed(market, rate: 5) { $0.contractInfoInterval = .seconds(5) }, ticks: 30 * 100 + 1, wanted: ["!contractInfo"])
        let symbols = SimInstrument.defaults.filter { $0.market == market }
        #expect(messages.count == 6 * symbols.count)
        #expect(Set(messages.map(\.tick)) == Set((1...6).map { H.start + Int64($0) * 5_000 }))
        for message in messages {
            let event = message.object
            #expect(Set(event.keys) == ["e", "E", "T", "s", "ps", "ct", "dt", "ot", "cs", "bks", "st"])
            #expect(event["e"] as? String == "contractInfo" && event["cs"] as? String == "TRADING")
            #expect(H.int(event["E"]) == message.tick && H.int(event["T"]) == message.tick)
            let instrument = H.instrument(event["s"] as! String)
            #expect(instrument.market == market)
            #expect(event["ps"] as? String == instrument.pair && event["ct"] as? String == instrument.contractType)
            #expect(H.int(event["dt"]) == instrument.deliveryDate && H.int(event["ot"]) == instrument.onboardDate)
            #expect(H.int(event["st"]) == (market == .usdm ? 1 : 2))
            let brackets = event["bks"] as! [[String: Any]]
            #expect(brackets.count == 3)
            for (number, bracket) in brackets.enumerated() {
                #expect(Set(bracket.keys) == ["bs", "bnf", "bnc", "mmr", "cf", "mi", "ma"])
                for key in ["bs", "bnf", "bnc", "mi", "ma"] { #expect(H.isInteger(bracket[key])) }
                for key in ["mmr", "cf"] { #expect(H.isNumber(bracket[key]), "\(key) is a JSON number") }
                #expect(H.int(bracket["bs"]) == Int64(number + 1))
                if number > 0 { #expect(H.int(bracket["bnf"]) == H.int(brackets[number - 1]["bnc"])) }
            }
        }
        let perTick = Dictionary(grouping: messages, by: \.tick).mapValues { Set($0.map { $0.object["s"] as! String }) }
        #expect(perTick.values.allSatisfy { $0 == Set(symbols.map(\.symbol)) })
    }

    /// COIN-M `<pair>@indexPrice` (3 s) and `@1s`, and `<pair>@markPrice@1s` (every contract
    /// of the pair): at every tick the index equals the `i` of each of the pair's contracts.
    @Test func coinmIndexPriceMatchesMarkPrice() {
        let messages = H.run(H.feed(.coinm), ticks: 12 * 100 + 1, wanted: ["btcusd@indexPrice", "btcusd@indexPrice@1s", "btcusd@markPrice@1s", "btcusd_261225@markPrice@1s"])
        let fast = messages.filter { $0.stream == "btcusd@indexPrice@1s" }
        let slow = messages.filter { $0.stream == "btcusd@indexPrice" }
        #expect(fast.map(\.tick) == (1...12).map { H.start + Int64($0) * 1_000 })
        #expect(slow.map(\.tick) == (1...4).map { H.start + Int64($0) * 3_000 })
        let pairMarks = Dictionary(uniqueKeysWithValues: messages.filter { $0.stream == "btcusd@markPrice@1s" }.map { ($0.tick, $0.array) })
        let quarterly = Dictionary(uniqueKeysWithValues: messages.filter { $0.stream == "btcusd_261225@markPrice@1s" }.map { ($0.tick, $0.object) })
        for message in fast + slow {
            let event = message.object
            #expect(Set(event.keys) == ["e", "E", "i", "p"])
            #expect(event["e"] as? String == "indexPriceUpdate" && event["i"] as? String == "BTCUSD")
            #expect(H.int(event["E"]) == message.tick)
            #expect(H.isDecimal(event["p"], decimals: 8))
            let contracts = pairMarks[message.tick]!
            #expect(contracts.map { $0["s"] as! String } == ["BTCUSD_PERP", "BTCUSD_261225"])
            for contract in contracts {
                #expect(contract["i"] as? String == event["p"] as? String)
                #expect(H.int(contract["E"]) == message.tick)
            }
            // The perpetual's mark is the index; the quarterly trades at its own price.
            #expect(contracts[0]["p"] as? String == event["p"] as? String)
            #expect(H.canonical(contracts[1]) == H.canonical(quarterly[message.tick]!))
            #expect(contracts[1]["r"] as? String == "" && H.int(contracts[1]["T"]) == 0)
        }
    }

    /// Mark and index price klines every 250 ms: `c` is the mark / index at that tick, `h`/`l`
    /// the extremes of the observations in the window, `n` their count, volumes `"0"`; the two
    /// spellings of the index kline carry the same payload.
    @Test func priceKlinesFollowMarkAndIndex() {
        let wanted: Set<String> = ["btcusd_261225@markPriceKline_1m", "btcusd@indexPriceKline_1m", "btcusd_perpetual@indexPriceKline_1m", "btcusd_current_quarter@indexPriceKline_1m", "btcusd@markPrice@1s"]
        let messages = H.run(H.feed(.coinm), ticks: 70 * 100 + 1, wanted: wanted)
        let markKlines = messages.filter { $0.stream == "btcusd_261225@markPriceKline_1m" }
        let indexKlines = messages.filter { $0.stream == "btcusd@indexPriceKline_1m" }
        #expect(markKlines.count == 280 && indexKlines.count == 280)
        #expect(messages.filter { $0.stream == "btcusd_perpetual@indexPriceKline_1m" }.map(\.text) == indexKlines.map(\.text))
        #expect(messages.filter { $0.stream == "btcusd_current_quarter@indexPriceKline_1m" }.map(\.text) == indexKlines.map(\.text))
        let marks = Dictionary(uniqueKeysWithValues: messages.filter { $0.stream == "btcusd@markPrice@1s" }.map { ($0.tick, $0.array) })
        var checkedAgainstMark = 0
        for (klines, event, symbol) in [(markKlines, "markPrice_kline", "BTCUSD_261225"), (indexKlines, "indexPrice_kline", "0")] {
            var observed: [Int64] = []
            var windowStart: Int64 = -1
            for message in klines {
                let payload = message.object
                #expect(Set(payload.keys) == ["e", "E", "ps", "k"])
                #expect(payload["e"] as? String == event && payload["ps"] as? String == "BTCUSD")
                #expect(H.int(payload["E"]) == message.tick)
                let k = payload["k"] as! [String: Any]
                #expect(Set(k.keys) == SimContinuousKlineTests.klineFields)
                #expect(k["s"] as? String == symbol)
                for key in ["v", "q", "V", "Q", "B"] { #expect(k[key] as? String == "0") }
                for key in ["o", "c", "h", "l"] { #expect(H.isDecimal(k[key], decimals: 8)) }
                if H.int(k["t"]) != windowStart {
                    windowStart = H.int(k["t"])
                    observed = []
                }
                #expect(windowStart % 60_000 == 0 && H.int(k["T"]) == windowStart + 59_999)
                let close = H.units(k["c"], 8)
                observed.append(close)
                #expect(H.int(k["n"]) == Int64(observed.count))
                #expect(H.units(k["h"], 8) == max(observed.max()!, H.units(k["o"], 8)))
                #expect(H.units(k["l"], 8) == min(observed.min()!, H.units(k["o"], 8)))
                #expect(H.int(k["L"]) == message.tick)
                if let contracts = marks[message.tick] {
                    let expected = event == "markPrice_kline" ? contracts[1]["p"] : contracts[1]["i"]
                    #expect(k["c"] as? String == expected as? String)
                    checkedAgainstMark += 1
                }
            }
        }
        #expect(checkedAgainstMark == 140)
    }

    /// Well-formed names for a symbol, pair or market the feed does not have stay silent.
    @Test func namesTheMarketDoesNotHaveStaySilent() {
        let usdm: Set<String> = ["btcusd@indexPrice", "btcusdt@indexPrice@1s", "xrpusdt@forceOrder", "btcusdt_current_quarter@continuousKline_1m",
                                 "btcusdt@markPriceKline_1m", "btcusdt@indexPriceKline_1m", "xrpusd@assetIndex", "btcusd@markPrice"]
        let coinm: Set<String> = ["btcusd_perp@compositeIndex", "btcusd@assetIndex", "!assetIndex@arr", "btcusd_next_quarter@continuousKline_1m",
                                  "ethusd_current_quarter@continuousKline_1m", "xrpusd@indexPrice", "btcusd_next_quarter@indexPriceKline_1m", "btcusd_perp@indexPrice"]
        #expect(H.run(H.feed(.usdm), ticks: 5 * 100 + 1, wanted: usdm).isEmpty)
        #expect(H.run(H.feed(.coinm), ticks: 5 * 100 + 1, wanted: coinm).isEmpty)
    }
}

import Foundation
import Testing
@testable import BinanceSimulator

@Suite("Simulator market model")
struct SimModelTests {
    private let btc = SimInstrument.defaults[0]

    @Test func sameSeedSameMarketDifferentSeedDifferentMarket() {
        var a = SimSymbolModel(instrument: btc, seed: 42, index: 0)
        var b = SimSymbolModel(instrument: btc, seed: 42, index: 0)
        var c = SimSymbolModel(instrument: btc, seed: 43, index: 0)
        var differs = false
        for _ in 0..<10_000 {
            let stepA = a.step()
            #expect(stepA == b.step())
            if stepA != c.step() { differs = true }
        }
        #expect(a.book == b.book)
        #expect(differs)
    }

    @Test func bookStaysSortedUncrossedAndBounded() {
        var model = SimSymbolModel(instrument: btc, seed: 7, index: 0)
        var trades = 0
        for _ in 0..<50_000 {
            let result = model.step()
            if let trade = result.trade {
                trades += 1
                #expect(trade.quantity > 0 && trade.quantity % btc.step == 0)
            }
            for change in result.changes { #expect(change.price % btc.tick == 0) }
        }
        let book = model.book
        #expect(zip(book.bids, book.bids.dropFirst()).allSatisfy { $0.price > $1.price })
        #expect(zip(book.asks, book.asks.dropFirst()).allSatisfy { $0.price < $1.price })
        #expect(book.bestBid!.price < book.bestAsk!.price)
        #expect(book.bids.count <= SimSymbolModel.maxDepth && book.asks.count <= SimSymbolModel.maxDepth)
        #expect(trades > 5_000 && trades < 15_000, "\(trades) trades")
    }

    @Test func decimalFormatting() {
        #expect(DecimalFormat(decimals: 2).format(9_731_240) == "97312.40")
        #expect(DecimalFormat(decimals: 3).format(5) == "0.005")
        #expect(DecimalFormat(decimals: 0).format(17) == "17")
        #expect(DecimalFormat(decimals: 4).format(-2_413_500) == "-241.3500")
        #expect(btc.tickSizeText == "0.10" && btc.stepSizeText == "0.001")
    }

    @Test func streamNamesParseLikeBinance() {
        #expect(SimStream.parse("btcusdt@depth")?.kind == .depthDiff(speed: 250))
        #expect(SimStream.parse("btcusdt@depth@100ms")?.kind == .depthDiff(speed: 100))
        #expect(SimStream.parse("btcusdt@depth@250ms") == nil)  // acked and silent on Binance
        #expect(SimStream.parse("btcusdt@depth10@500ms")?.kind == .depthPartial(levels: 10, speed: 500))
        #expect(SimStream.parse("btcusdt@kline_1m")?.kind == .kline(interval: "1m"))
        #expect(SimStream.parse("btcusdt@kline_7m") == nil)
        #expect(SimStream.parse("BTCUSDT@aggTrade") == nil)  // upper case: acked and silent
        #expect(SimStream.parse("!markPrice@arr@1s")?.kind == .markPrice(seconds: 1))
        #expect(SimStream.isWellFormed("btcusdt@aggTrade") && SimStream.isWellFormed("!bookTicker"))
        #expect(!SimStream.isWellFormed("") && !SimStream.isWellFormed("btc usdt@trade") && !SimStream.isWellFormed("nostreamtype"))
        #expect(SimStream.route(of: "btcusdt@bookTicker") == .public)
        #expect(SimStream.route(of: "btcusdt@aggTrade") == .market)
    }

    @Test func urlTargets() {
        #expect(SimWebSocketTarget.parse(uri: "/public/ws/btcusdt@bookTicker/ethusdt@depth", market: .usdm)
            == SimWebSocketTarget(route: .public, combined: false, streams: ["btcusdt@bookTicker", "ethusdt@depth"]))
        #expect(SimWebSocketTarget.parse(uri: "/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade", market: .usdm)
            == SimWebSocketTarget(route: .market, combined: true, streams: ["btcusdt@aggTrade", "ethusdt@aggTrade"]))
        #expect(SimWebSocketTarget.parse(uri: "/ws", market: .coinm) == SimWebSocketTarget(route: .unrouted, combined: false, streams: []))
        #expect(SimWebSocketTarget.parse(uri: "/public/ws", market: .coinm) == nil)
        #expect(SimWebSocketTarget.parse(uri: "/other", market: .usdm) == nil)
    }

    @Test func weightLimiterAnswers429ThenBans() {
        var limiter = SimWeightLimiter(limitPerMinute: 40)
        let t: Int64 = 1_800_000_000_000 + 5_000  // 5 s into a minute
        #expect(limiter.charge(20, now: t) == .allowed(usedWeight: 20))
        #expect(limiter.charge(20, now: t) == .allowed(usedWeight: 40))
        #expect(limiter.charge(20, now: t) == .limited(retryAfter: 55, usedWeight: 40))
        #expect(limiter.charge(20, now: t) == .limited(retryAfter: 55, usedWeight: 40))
        #expect(limiter.charge(1, now: t) == .banned(until: t + SimWeightLimiter.banMilliseconds))
        #expect(limiter.charge(1, now: t + 60_000) == .banned(until: t + SimWeightLimiter.banMilliseconds))
        #expect(limiter.charge(1, now: t + SimWeightLimiter.banMilliseconds) == .allowed(usedWeight: 1))
    }
}

@Suite("Simulator book consistency")
struct SimBookConsistencyTests {
    /// Snapshot + every later diff event rebuilds the exchange's book exactly, with an
    /// unbroken `U ≤ lastUpdateId ≤ u`, then `pu == previous u` chain, over 100,000 updates.
    @Test(arguments: [100, 500])
    func snapshotPlusDiffsRebuildsTheBook(speed: Int) throws {
        var configuration = SimulatorConfiguration()
        configuration.rate = 10_000
        let feed = SimMarketFeed(market: .usdm, instruments: configuration.instruments, seed: 99, rate: configuration.rate)
        let stream = "btcusdt@depth@\(speed)ms"
        var events: [String] = []
        var now: Int64 = 1_800_000_000_000
        feed.advance(to: now, wants: { _ in false }) { _, _ in }
        // Run a while before the snapshot, so the first event straddles it.
        for _ in 0..<37 {
            now += 10
            feed.advance(to: now, wants: { $0 == stream }) { name, payload in if name == stream { events.append(payload) } }
        }
        let snapshot = try #require(feed.snapshot(symbol: "BTCUSDT", limit: 1000))
        var book = SimOrderBook(lastUpdateId: snapshot.lastUpdateId)
        for level in snapshot.bids { book.apply(isBid: true, price: level.price, quantity: level.quantity, updateId: snapshot.lastUpdateId) }
        for level in snapshot.asks { book.apply(isBid: false, price: level.price, quantity: level.quantity, updateId: snapshot.lastUpdateId) }
        let startUpdate = snapshot.lastUpdateId
        while (feed.model(for: "btcusdt")!.book.lastUpdateId - startUpdate) < 100_000 {
            now += 10
            feed.advance(to: now, wants: { $0 == stream }) { name, payload in if name == stream { events.append(payload) } }
        }
        // Flush the last window.
        now += Int64(speed) * 2
        feed.advance(to: now, wants: { $0 == stream }) { name, payload in if name == stream { events.append(payload) } }

        var previousFinal: Int64?
        var applied = 0
        for text in events {
            let event = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
            let first = (event["U"] as! NSNumber).int64Value
            let final = (event["u"] as! NSNumber).int64Value
            let previous = (event["pu"] as! NSNumber).int64Value
            if final < startUpdate { continue }
            if let previousFinal {
                #expect(previous == previousFinal, "pu chain broken at u=\(final)")
            } else {
                #expect(first <= startUpdate + 1 && final >= startUpdate, "first event must straddle the snapshot")
            }
            previousFinal = final
            let format = SimInstrument.defaults[0]
            for (side, isBid) in [("b", true), ("a", false)] {
                for pair in event[side] as! [[String]] {
                    book.apply(isBid: isBid, price: Self.units(pair[0], format.price.decimals), quantity: Self.units(pair[1], format.quantity.decimals), updateId: final)
                }
            }
            applied += 1
        }
        let truth = feed.model(for: "btcusdt")!.book
        #expect(applied > 10)
        #expect(book.lastUpdateId == truth.lastUpdateId)
        #expect(book.bids == truth.bids)
        #expect(book.asks == truth.asks)
    }

    /// "97312.40" at 2 decimals → 9731240.
    static func units(_ text: String, _ decimals: Int) -> Int64 {
        let parts = text.split(separator: ".")
        var value = Int64(parts[0])!
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        while fraction.count < decimals { fraction += "0" }
        for _ in 0..<decimals { value *= 10 }
        return value + (fraction.isEmpty ? 0 : Int64(fraction)!)
    }
}

@Suite("Simulator tickers and klines")
struct SimTickerTests {
    /// The ticker and the 1m kline agree with the aggTrades the feed emitted.
    @Test func tickerAndKlineSumTheTrades() throws {
        let feed = SimMarketFeed(market: .usdm, instruments: SimInstrument.defaults, seed: 5, rate: 2_000)
        var now: Int64 = 1_800_000_000_000 - 1_800_000_000_000 % 60_000 + 1_000  // 1 s into a minute
        var trades: [[String: Any]] = []
        var ticker: [String: Any]?
        var kline: [String: Any]?
        let wanted: Set<String> = ["btcusdt@aggTrade", "btcusdt@ticker", "btcusdt@kline_1m"]
        func run(_ steps: Int) throws {
            for _ in 0..<steps {
                now += 10
                feed.advance(to: now, wants: { wanted.contains($0) }) { stream, payload in
                    let object = try! JSONSerialization.jsonObject(with: Data(payload.utf8)) as! [String: Any]
                    switch stream {
                    case "btcusdt@aggTrade": trades.append(object)
                    case "btcusdt@ticker": ticker = object
                    default: kline = object["k"] as? [String: Any]
                    }
                }
            }
        }
        try run(1_000)  // 10 s: tickers every second, klines every 250 ms
        let k = try #require(kline)
        let t = try #require(ticker)
        // The kline's own trade-id range selects exactly the trades it aggregated.
        let first = (k["f"] as! NSNumber).int64Value
        let last = (k["L"] as! NSNumber).int64Value
        let inKline = trades.filter { ($0["f"] as! NSNumber).int64Value >= first && ($0["f"] as! NSNumber).int64Value <= last }
        #expect(inKline.count > 100)
        #expect((k["n"] as! NSNumber).intValue == inKline.count)
        let prices = inKline.map { SimBookConsistencyTests.units($0["p"] as! String, 2) }
        let open = SimBookConsistencyTests.units(k["o"] as! String, 2)
        #expect(SimBookConsistencyTests.units(k["h"] as! String, 2) == max(prices.max()!, open))
        #expect(SimBookConsistencyTests.units(k["l"] as! String, 2) == min(prices.min()!, open))
        #expect(SimBookConsistencyTests.units(k["c"] as! String, 2) == prices.last!)
        let volume = inKline.map { SimBookConsistencyTests.units($0["q"] as! String, 3) }.reduce(0, +)
        #expect(SimBookConsistencyTests.units(k["v"] as! String, 3) == volume)
        let takerBuys = inKline.filter { $0["m"] as? Bool == false }.map { SimBookConsistencyTests.units($0["q"] as! String, 3) }.reduce(0, +)
        #expect(SimBookConsistencyTests.units(k["V"] as! String, 3) == takerBuys)
        #expect(k["i"] as? String == "1m" && (k["t"] as! NSNumber).int64Value % 60_000 == 0)
        // The ticker's window holds every trade since start: the count and volume of all of them.
        let allTradesUpToTicker = trades.filter { ($0["f"] as! NSNumber).int64Value <= (t["L"] as! NSNumber).int64Value }
        #expect((t["n"] as! NSNumber).intValue == allTradesUpToTicker.count)
        #expect(SimBookConsistencyTests.units(t["v"] as! String, 3) == allTradesUpToTicker.map { SimBookConsistencyTests.units($0["q"] as! String, 3) }.reduce(0, +))
        #expect(t["e"] as? String == "24hrTicker" && t["s"] as? String == "BTCUSDT")
    }
}

@Suite("Simulator partial depth")
struct SimPartialDepthTests {
    /// `depth5@100ms` carries exactly the book's top five levels a side, best first, as the
    /// book stands when the event is emitted.
    @Test func partialDepthIsTheTopOfTheBook() throws {
        let feed = SimMarketFeed(market: .usdm, instruments: SimInstrument.defaults, seed: 3, rate: 1_000)
        var now: Int64 = 1_800_000_000_000
        var checked = 0
        for _ in 0..<100 {
            now += 10
            feed.advance(to: now, wants: { $0 == "ethusdt@depth5@100ms" }) { _, payload in
                let event = try! JSONSerialization.jsonObject(with: Data(payload.utf8)) as! [String: Any]
                let book = feed.model(for: "ethusdt")!.book
                let bids = (event["b"] as! [[String]]).map { SimOrderBook.Level(price: SimBookConsistencyTests.units($0[0], 2), quantity: SimBookConsistencyTests.units($0[1], 3)) }
                let asks = (event["a"] as! [[String]]).map { SimOrderBook.Level(price: SimBookConsistencyTests.units($0[0], 2), quantity: SimBookConsistencyTests.units($0[1], 3)) }
                #expect(bids == Array(book.bids.prefix(5)))
                #expect(asks == Array(book.asks.prefix(5)))
                #expect((event["u"] as! NSNumber).int64Value == book.lastUpdateId)
                #expect(event["s"] as? String == "ETHUSDT")
                checked += 1
            }
        }
        #expect(checked >= 9)
    }
}

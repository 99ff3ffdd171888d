import Testing
@testable import BridgeCore

@Suite("BinanceStreamName")
struct BinanceStreamNameTests {
    // MARK: Accepted names

    struct Accepted: Sendable, CustomTestStringConvertible {
        var name: String
        var market: BinanceMarket
        var symbol: String?
        var type: BinanceStreamType
        var testDescription: String { "\(market.rawValue) \(name)" }
    }

    static let accepted: [Accepted] = [
        .init(name: "btcusdt@aggTrade", market: .usdm, symbol: "btcusdt", type: .aggTrade),
        .init(name: "btcusdt@trade", market: .usdm, symbol: "btcusdt", type: .trade),
        .init(name: "btcusdt@bookTicker", market: .usdm, symbol: "btcusdt", type: .bookTicker),
        .init(name: "!bookTicker", market: .usdm, symbol: nil, type: .bookTicker),
        .init(name: "!bookTicker", market: .coinm, symbol: nil, type: .bookTicker),
        .init(name: "btcusdt@depth", market: .usdm, symbol: "btcusdt", type: .depth(speed: .milliseconds250)),
        .init(name: "btcusdt@depth@100ms", market: .usdm, symbol: "btcusdt", type: .depth(speed: .milliseconds100)),
        .init(name: "btcusdt@depth@500ms", market: .usdm, symbol: "btcusdt", type: .depth(speed: .milliseconds500)),
        .init(name: "btcusdt@depth5", market: .usdm, symbol: "btcusdt", type: .partialDepth(levels: 5, speed: .milliseconds250)),
        .init(name: "btcusdt@depth10@500ms", market: .usdm, symbol: "btcusdt", type: .partialDepth(levels: 10, speed: .milliseconds500)),
        .init(name: "btcusdt@depth20", market: .usdm, symbol: "btcusdt", type: .partialDepth(levels: 20, speed: .milliseconds250)),
        .init(name: "btcusdt@depth20@100ms", market: .usdm, symbol: "btcusdt", type: .partialDepth(levels: 20, speed: .milliseconds100)),
        .init(name: "btcusdt@rpiDepth@500ms", market: .usdm, symbol: "btcusdt", type: .rpiDepth),
        .init(name: "btcusdt@markPrice", market: .usdm, symbol: "btcusdt", type: .markPrice(speed: .threeSeconds)),
        .init(name: "btcusdt@markPrice@1s", market: .usdm, symbol: "btcusdt", type: .markPrice(speed: .oneSecond)),
        .init(name: "!markPrice@arr", market: .usdm, symbol: nil, type: .markPrice(speed: .threeSeconds)),
        .init(name: "!markPrice@arr@1s", market: .usdm, symbol: nil, type: .markPrice(speed: .oneSecond)),
        .init(name: "btcusdt@kline_1m", market: .usdm, symbol: "btcusdt", type: .kline(interval: KlineInterval(rawValue: "1m")!)),
        .init(name: "btcusdt@kline_1M", market: .usdm, symbol: "btcusdt", type: .kline(interval: KlineInterval(rawValue: "1M")!)),
        .init(
            name: "btcusdt_perpetual@continuousKline_1m", market: .usdm, symbol: "btcusdt",
            type: .continuousKline(contractType: .perpetual, interval: KlineInterval(rawValue: "1m")!)),
        .init(
            name: "btcusd_current_quarter@continuousKline_4h", market: .coinm, symbol: "btcusd",
            type: .continuousKline(contractType: .currentQuarter, interval: KlineInterval(rawValue: "4h")!)),
        .init(name: "btcusdt@miniTicker", market: .usdm, symbol: "btcusdt", type: .miniTicker),
        .init(name: "!miniTicker@arr", market: .usdm, symbol: nil, type: .miniTicker),
        .init(name: "btcusdt@ticker", market: .usdm, symbol: "btcusdt", type: .ticker),
        .init(name: "!ticker@arr", market: .coinm, symbol: nil, type: .ticker),
        .init(name: "btcusdt@forceOrder", market: .usdm, symbol: "btcusdt", type: .forceOrder),
        .init(name: "!forceOrder@arr", market: .usdm, symbol: nil, type: .forceOrder),
        .init(name: "defiusdt@compositeIndex", market: .usdm, symbol: "defiusdt", type: .compositeIndex),
        .init(name: "!contractInfo", market: .usdm, symbol: nil, type: .contractInfo),
        .init(name: "!contractInfo", market: .coinm, symbol: nil, type: .contractInfo),
        .init(name: "adausd@assetIndex", market: .usdm, symbol: "adausd", type: .assetIndex),
        .init(name: "!assetIndex@arr", market: .usdm, symbol: nil, type: .assetIndex),
        .init(name: "btcusd_perp@markPrice", market: .coinm, symbol: "btcusd_perp", type: .markPrice(speed: .threeSeconds)),
        .init(name: "btcusd@markPrice@1s", market: .coinm, symbol: "btcusd", type: .markPrice(speed: .oneSecond)),
        .init(name: "btcusd@indexPrice", market: .coinm, symbol: "btcusd", type: .indexPrice(speed: .threeSeconds)),
        .init(name: "btcusd@indexPrice@1s", market: .coinm, symbol: "btcusd", type: .indexPrice(speed: .oneSecond)),
        .init(
            name: "btcusd_perp@markPriceKline_1m", market: .coinm, symbol: "btcusd_perp",
            type: .markPriceKline(interval: KlineInterval(rawValue: "1m")!)),
        .init(
            name: "btcusd@indexPriceKline_1h", market: .coinm, symbol: "btcusd",
            type: .indexPriceKline(contractType: nil, interval: KlineInterval(rawValue: "1h")!)),
        .init(
            name: "btcusd_next_quarter@indexPriceKline_1d", market: .coinm, symbol: "btcusd",
            type: .indexPriceKline(contractType: .nextQuarter, interval: KlineInterval(rawValue: "1d")!)),
        .init(name: "btcusd_251226@aggTrade", market: .coinm, symbol: "btcusd_251226", type: .aggTrade),
        .init(name: "1000pepeusdt@depth@100ms", market: .usdm, symbol: "1000pepeusdt", type: .depth(speed: .milliseconds100)),
    ]

    @Test(arguments: accepted)
    func parses(_ expected: Accepted) throws {
        let name = try BinanceStreamName(expected.name, market: expected.market)
        #expect(name.rawValue == expected.name)
        #expect(name.description == expected.name)
        #expect(name.market == expected.market)
        #expect(name.symbol == expected.symbol)
        #expect(name.type == expected.type)
        #expect(name.isAllMarket == (expected.symbol == nil))
        #expect(name.contractSymbol == expected.symbol?.uppercased())
    }

    @Test func contractSymbolIsUpperCase() throws {
        #expect(try BinanceStreamName("btcusd_perp@markPrice", market: .coinm).contractSymbol == "BTCUSD_PERP")
        #expect(try BinanceStreamName("btcusdt@aggTrade", market: .usdm).contractSymbol == "BTCUSDT")
        #expect(try BinanceStreamName("btcusdt_perpetual@continuousKline_5m", market: .usdm).contractSymbol == "BTCUSDT")
        #expect(try BinanceStreamName("!bookTicker", market: .usdm).contractSymbol == nil)
    }

    @Test func everyKlineIntervalParses() throws {
        #expect(KlineInterval.all.count == 15)
        for interval in KlineInterval.all {
            let name = try BinanceStreamName("ethusdt@kline_\(interval)", market: .usdm)
            #expect(name.type == .kline(interval: interval))
        }
    }

    @Test func equalityIsByNameAndMarket() throws {
        let usdm = try BinanceStreamName("!bookTicker", market: .usdm)
        let coinm = try BinanceStreamName("!bookTicker", market: .coinm)
        #expect(usdm != coinm)
        #expect(usdm == (try BinanceStreamName("!bookTicker", market: .usdm)))
        #expect(Set([usdm, coinm, usdm]).count == 2)
    }

    // MARK: Rejected names

    struct Rejected: Sendable, CustomTestStringConvertible {
        var name: String
        var market: BinanceMarket = .usdm
        var reason: BinanceStreamNameError.Reason
        var testDescription: String { "\(market.rawValue) \(name)" }
    }

    static let rejected: [Rejected] = [
        .init(name: "", reason: .empty),
        .init(name: "BTCUSDT@aggTrade", reason: .upperCaseSymbol),
        .init(name: "btcUSDT@depth", reason: .upperCaseSymbol),
        .init(name: "btcusdt@aggtrade", reason: .wrongCaseType(expected: "aggTrade")),
        .init(name: "btcusdt@Kline_1m", reason: .wrongCaseType(expected: "kline_1m")),
        .init(name: "btcusdt@foo", reason: .unknownType("foo")),
        .init(name: "btcusdt@kline_2m", reason: .badInterval("2m")),
        .init(name: "btcusdt@kline_", reason: .badInterval("")),
        .init(name: "btcusdt@kline_1m@1s", reason: .badSpeed("1s")),
        .init(name: "btcusdt@depth20@250ms", reason: .explicitDefaultSpeed("250ms")),
        .init(name: "btcusdt@depth@250ms", reason: .explicitDefaultSpeed("250ms")),
        .init(name: "btcusdt@depth@200ms", reason: .badSpeed("200ms")),
        .init(name: "btcusdt@depth15", reason: .unknownType("depth15")),
        .init(name: "btcusdt@markPrice@2s", reason: .badSpeed("2s")),
        .init(name: "btcusdt@markPrice@3s", reason: .explicitDefaultSpeed("3s")),
        .init(name: "!markPrice@arr@3s", reason: .explicitDefaultSpeed("3s")),
        .init(name: "!markPrice@arr@5s", reason: .badSpeed("5s")),
        .init(name: "btcusdt@rpiDepth", reason: .badSpeed("")),
        .init(name: "btcusdt@rpiDepth@100ms", reason: .badSpeed("100ms")),
        .init(name: "btcusdt@aggTrade@100ms", reason: .badSpeed("100ms")),
        .init(name: String(repeating: "a", count: 192) + "@aggTrade", reason: .tooLong(maximum: 200)),
        .init(name: "btc-usdt@aggTrade", reason: .invalidCharacter("-")),
        .init(name: "btcusdt@agg Trade", reason: .invalidCharacter(" ")),
        .init(name: "btcusdt/ethusdt@aggTrade", reason: .invalidCharacter("/")),
        .init(name: "btc!usdt@aggTrade", reason: .invalidCharacter("!")),
        .init(name: "bitcoiné@aggTrade", reason: .invalidCharacter("é")),
        .init(name: "btcusdt", reason: .missingType),
        .init(name: "@aggTrade", reason: .badSymbol),
        .init(name: "_btcusdt@aggTrade", reason: .badSymbol),
        .init(name: "btcusdt@", reason: .malformed),
        .init(name: "btcusdt@@aggTrade", reason: .malformed),
        .init(name: "btcusdt@depth@100ms@x", reason: .malformed),
        .init(name: "!foo", reason: .unknownAllMarketStream),
        .init(name: "!bookticker", reason: .unknownAllMarketStream),
        .init(name: "btcusdt@continuousKline_1m", reason: .badContractType("")),
        .init(name: "btcusdt_perp@continuousKline_1m", reason: .badContractType("perp")),
        .init(name: "btcusdt_perpetual@continuousKline_7m", reason: .badInterval("7m")),
        // Market-specific types.
        .init(name: "btcusd@indexPrice@1s", market: .usdm, reason: .onlyOn(.coinm)),
        .init(name: "btcusd_perp@markPriceKline_1m", market: .usdm, reason: .onlyOn(.coinm)),
        .init(name: "btcusd@indexPriceKline_1m", market: .usdm, reason: .onlyOn(.coinm)),
        .init(name: "defiusdt@compositeIndex", market: .coinm, reason: .onlyOn(.usdm)),
        .init(name: "adausd@assetIndex", market: .coinm, reason: .onlyOn(.usdm)),
        .init(name: "!assetIndex@arr", market: .coinm, reason: .onlyOn(.usdm)),
        .init(name: "!markPrice@arr@1s", market: .coinm, reason: .onlyOn(.usdm)),
        .init(name: "btcusd_perp@rpiDepth@500ms", market: .coinm, reason: .onlyOn(.usdm)),
    ]

    @Test(arguments: rejected)
    func rejects(_ expected: Rejected) {
        #expect(throws: BinanceStreamNameError(name: expected.name, market: expected.market, reason: expected.reason)) {
            try BinanceStreamName(expected.name, market: expected.market)
        }
    }

    @Test func aRequestIsValidatedWholeListingEveryOffender() throws {
        let good = ["btcusdt@aggTrade", "!bookTicker"]
        #expect(try BinanceStreamName.parseAll(good, market: .usdm).get().map(\.rawValue) == good)
        let result = BinanceStreamName.parseAll(["btcusdt@aggTrade", "BTCUSDT@aggTrade", "x@nope", "!bookTicker"], market: .usdm)
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.names == ["BTCUSDT@aggTrade", "x@nope"])
        #expect(failure.errors.map(\.reason) == [.upperCaseSymbol, .unknownType("nope")])
    }

    @Test func lengthLimitIsInclusive() throws {
        let longest = String(repeating: "a", count: BinanceStreamName.maximumLength - "@aggTrade".count) + "@aggTrade"
        #expect(longest.utf8.count == BinanceStreamName.maximumLength)
        _ = try BinanceStreamName(longest, market: .usdm)
        #expect(throws: BinanceStreamNameError.self) { try BinanceStreamName("a" + longest, market: .usdm) }
    }

    @Test func descriptionNamesTheStreamAndReason() {
        let error = BinanceStreamNameError(name: "BTCUSDT@aggTrade", market: .usdm, reason: .upperCaseSymbol)
        #expect(error.description.contains("\"BTCUSDT@aggTrade\""))
        #expect(error.description.contains("lower case"))
    }

    // MARK: Routes

    @Test func defaultUSDMRoutesFollowTheProtocolTable() throws {
        let table = StreamRouteTable.binanceDefaults
        let publicNames = ["btcusdt@bookTicker", "!bookTicker", "btcusdt@depth", "btcusdt@depth@100ms", "btcusdt@depth5@500ms",
                           "btcusdt@rpiDepth@500ms", "btcusdt@trade"]
        let marketNames = ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "!markPrice@arr", "btcusdt@kline_1m",
                           "btcusdt_perpetual@continuousKline_1m", "btcusdt@miniTicker", "!miniTicker@arr", "btcusdt@ticker",
                           "!ticker@arr", "btcusdt@forceOrder", "!forceOrder@arr", "defiusdt@compositeIndex", "!contractInfo",
                           "adausd@assetIndex", "!assetIndex@arr"]
        for name in publicNames {
            #expect(table.route(for: try BinanceStreamName(name, market: .usdm)) == .public, "\(name)")
        }
        for name in marketNames {
            #expect(table.route(for: try BinanceStreamName(name, market: .usdm)) == .market, "\(name)")
        }
    }

    @Test func coinmIsAlwaysUnrouted() throws {
        let table = StreamRouteTable(overrides: [.aggTrade: .public])
        for name in ["btcusd_perp@aggTrade", "!bookTicker", "btcusd_perp@depth@100ms", "btcusd@indexPrice"] {
            #expect(table.route(for: try BinanceStreamName(name, market: .coinm)) == .unrouted)
        }
    }

    @Test func routesAreConfigurable() throws {
        var table = StreamRouteTable(overrides: [.trade: .market])
        let trade = try BinanceStreamName("btcusdt@trade", market: .usdm)
        #expect(table.route(for: trade) == .market)
        table[.trade] = .public
        #expect(table.route(for: trade) == .public)
        #expect(table == StreamRouteTable.binanceDefaults)
    }
}

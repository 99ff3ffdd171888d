import BridgeCore
import Testing

@Suite("MarketDataNormalizer")
struct MarketDataNormalizerTests {
    static let instruments = InstrumentPrecisions([
        .usdm: ["BTCUSDT": InstrumentPrecision(priceDecimals: 1, quantityDecimals: 3)],
        .coinm: ["BTCUSD_PERP": InstrumentPrecision(priceDecimals: 1, quantityDecimals: 0)],
    ])

    func normalize(_ json: String, _ stream: String, _ market: BinanceMarket = .usdm, combined: Bool = false) throws -> [[String: String]] {
        let name = try BinanceStreamName(stream, market: market)
        let normalizer = MarketDataNormalizer(instruments: Self.instruments)
        var text = combined ? #"{"stream":"\#(stream)","data":\#(json)}"# : json
        var entries: [StreamEntry] = []
        try text.withUTF8 { utf8 in
            try normalizer.normalize(frame: UnsafeRawBufferPointer(utf8), stream: name, receiveTimeMicroseconds: 1_700_000_000_123_456, into: &entries)
        }
        for entry in entries {
            #expect(entry.stream == stream)
            #expect(entry.market == market)
            // No entry ever holds a placeholder (Redis contract §2).
            for (field, value) in entry.decodedFields {
                #expect(!value.isEmpty && value != "null" && value != "None" && value != "nan", "\(field)=\(value)")
            }
        }
        return entries.map { Dictionary(uniqueKeysWithValues: $0.decodedFields) }
    }

    @Test func aggTradeUsesContractNamesAndTheInstrumentsPrecision() throws {
        let json = #"{"e":"aggTrade","E":1700000000100,"s":"BTCUSDT","a":5933014,"p":"25000.10000","q":"0.1","f":100,"l":105,"T":1700000000099,"m":true}"#
        for combined in [false, true] {
            let entries = try normalize(json, "btcusdt@aggTrade", combined: combined)
            #expect(entries == [[
                "type": "agg_trade", "market": "usdm", "symbol": "BTCUSDT", "stream": "btcusdt@aggTrade",
                "event_time_ms": "1700000000100", "recv_time_us": "1700000000123456",
                "agg_trade_id": "5933014", "price": "25000.1", "qty": "0.100", "first_trade_id": "100",
                "last_trade_id": "105", "trade_time_ms": "1700000000099", "side": "sell",
            ]])
        }
    }

    @Test func unknownSymbolsPassDecimalsThroughAndExtraDigitsAreNeverDropped() throws {
        let unknown = try normalize(#"{"e":"aggTrade","E":1,"s":"ETHUSDT","a":1,"p":"2000.500","q":"1.00","m":false}"#, "ethusdt@aggTrade")
        #expect(unknown[0]["price"] == "2000.500")
        #expect(unknown[0]["qty"] == "1.00")
        #expect(unknown[0]["side"] == "buy")
        // More decimals than the tick size: kept exactly (formatting never changes a value).
        let finer = try normalize(#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"25000.123","q":"5","m":false}"#, "btcusdt@aggTrade")
        #expect(finer[0]["price"] == "25000.123")
        #expect(finer[0]["qty"] == "5.000")
    }

    @Test func depthLevelsAreReformattedAndIdsKept() throws {
        let json = #"{"e":"depthUpdate","E":10,"T":9,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["25000.00","0.0020"],["24999.9","0"]],"a":[]}"#
        let entry = try #require(try normalize(json, "btcusdt@depth@100ms").first)
        #expect(entry["type"] == "depth_update")
        #expect(entry["first_update_id"] == "157")
        #expect(entry["final_update_id"] == "160")
        #expect(entry["prev_final_update_id"] == "149")
        #expect(entry["transaction_time_ms"] == "9")
        #expect(entry["bids"] == #"[["25000.0","0.002"],["24999.9","0.000"]]"#)
        #expect(entry["asks"] == "[]")
        let partial = try #require(try normalize(json, "btcusdt@depth20").first)
        #expect(partial["type"] == "depth_partial")
        // The symbol after the levels (not Binance's order): formatted the same, later.
        let late = #"{"e":"depthUpdate","E":10,"T":9,"U":157,"u":160,"pu":149,"b":[["25000.00","0.0020"],["24999.9","0"]],"a":[["1.5","2"]],"s":"BTCUSDT"}"#
        let reordered = try #require(try normalize(late, "btcusdt@depth@100ms").first)
        #expect(reordered["bids"] == entry["bids"])
        #expect(reordered["asks"] == #"[["1.5","2.000"]]"#)
        // Truncated inside the levels: rejected.
        #expect(throws: NormalizationError.self) {
            try normalize(#"{"e":"depthUpdate","E":10,"s":"BTCUSDT","U":1,"u":2,"b":[["1","2"],["3""#, "btcusdt@depth")
        }
    }

    @Test func bookTickerMarkPriceAndKline() throws {
        let book = try normalize(#"{"e":"bookTicker","u":400900217,"E":5,"T":4,"s":"BTCUSDT","b":"25.3519","B":"31.21","a":"25.3652","A":"40.66"}"#, "btcusdt@bookTicker")[0]
        #expect(book["update_id"] == "400900217")
        #expect(book["bid_price"] == "25.3519" && book["bid_qty"] == "31.210" && book["ask_price"] == "25.3652" && book["ask_qty"] == "40.660")
        let mark = try normalize(#"{"e":"markPriceUpdate","E":5,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}"#, "btcusdt@markPrice@1s")[0]
        #expect(mark["mark_price"] == "11794.15")
        #expect(mark["index_price"] == "11784.62659091")
        #expect(mark["funding_rate"] == "0.00038167")
        #expect(mark["next_funding_time_ms"] == "1562306400000")
        let kline = try normalize(
            #"{"e":"kline","E":5,"s":"BTCUSDT","k":{"t":60000,"T":119999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#,
            "btcusdt@kline_1m"
        )[0]
        #expect(kline["type"] == "kline" && kline["interval"] == "1m" && kline["open_time_ms"] == "60000" && kline["close_time_ms"] == "119999")
        #expect(kline["open"] == "0.001" && kline["close"] == "0.002" && kline["high"] == "0.0025" && kline["low"] == "0.0015")
        #expect(kline["volume"] == "1000.000" && kline["quote_volume"] == "1.0000" && kline["trades"] == "100" && kline["closed"] == "0")
        #expect(kline["taker_buy_volume"] == "500.000" && kline["taker_buy_quote_volume"] == "0.500")
        #expect(kline["B"] == nil && kline["ignore"] == nil)
    }

    @Test func coinmDeliveryMarkPriceOmitsAbsentFunding() throws {
        let json = #"[{"e":"markPriceUpdate","E":5,"s":"BTCUSD_PERP","p":"50000.00000000","i":"50001.1","P":"50000.5","r":"0.0001","T":8},{"e":"markPriceUpdate","E":5,"s":"BTCUSD_261225","p":"51000.10000000","i":"50001.1","P":"51000.1","r":"","T":0}]"#
        let entries = try normalize(json, "btcusd@markPrice", .coinm)
        #expect(entries.count == 2)
        #expect(entries[0]["symbol"] == "BTCUSD_PERP" && entries[0]["mark_price"] == "50000.0" && entries[0]["next_funding_time_ms"] == "8")
        #expect(entries[1]["symbol"] == "BTCUSD_261225" && entries[1]["funding_rate"] == nil && entries[1]["next_funding_time_ms"] == nil)
        #expect(entries[1]["mark_price"] == "51000.10000000")
    }

    @Test func allMarketRowsNameTheirOwnMarket() throws {
        let json = #"[{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1.0","o":"1","h":"1","l":"1","v":"1","q":"1","st":1},{"e":"24hrMiniTicker","E":1,"s":"BTCUSD_PERP","c":"2","o":"2","h":"2","l":"2","v":"3","q":"4","st":2}]"#
        let entries = try normalize(json, "!miniTicker@arr")
        #expect(entries.map { $0["market"] } == ["usdm", "coinm"])
        #expect(entries.map { $0["close"] } == ["1.0", "2.0"])
        #expect(entries[1]["volume"] == "3")
    }

    @Test func liquidationContinuousKlineIndexAndContractInfo() throws {
        let liquidation = try normalize(#"{"e":"forceOrder","E":7,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":6}}"#, "btcusdt@forceOrder")[0]
        #expect(liquidation["type"] == "liquidation" && liquidation["symbol"] == "BTCUSDT" && liquidation["side"] == "sell")
        #expect(liquidation["price"] == "9910.0" && liquidation["orig_qty"] == "0.014" && liquidation["order_status"] == "FILLED")
        let continuous = try normalize(#"{"e":"continuous_kline","E":5,"ps":"BTCUSDT","ct":"PERPETUAL","k":{"t":1,"T":2,"i":"1m","f":1,"L":2,"o":"1","c":"1","h":"1","l":"1","v":"1","n":1,"x":true,"q":"1","V":"1","Q":"1","B":"0"}}"#, "btcusdt_perpetual@continuousKline_1m")[0]
        #expect(continuous["type"] == "continuous_kline" && continuous["symbol"] == "BTCUSDT" && continuous["contract_type"] == "PERPETUAL" && continuous["closed"] == "1")
        let index = try normalize(#"{"e":"indexPriceUpdate","E":5,"i":"BTCUSD","p":"50000.12345678"}"#, "btcusd@indexPrice@1s", .coinm)[0]
        #expect(index["type"] == "index_price" && index["symbol"] == "BTCUSD" && index["index_price"] == "50000.12345678")
        let info = try normalize(#"{"e":"contractInfo","E":5,"T":4,"s":"BTCUSDT","ps":"BTCUSDT","ct":"PERPETUAL","dt":4133404800000,"ot":1569398400000,"cs":"TRADING","bks":[{"bs":1,"bnf":0,"bnc":5000,"mmr":0.01,"cf":0,"mi":21,"ma":50}],"st":1}"#, "!contractInfo")[0]
        #expect(info["type"] == "contract_info" && info["contract_status"] == "TRADING" && info["brackets"]?.hasPrefix(#"[{"bs":1"#) == true)
    }

    @Test func unmodelledTypesBecomeRawEntriesWithThePayload() throws {
        let payload = #"{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#
        let entry = try normalize(payload, "btcusdt@rpiDepth@500ms")[0]
        #expect(entry == ["type": "raw", "market": "usdm", "symbol": "BTCUSDT", "stream": "btcusdt@rpiDepth@500ms", "event_time_ms": "3", "recv_time_us": "1700000000123456", "payload": payload])
    }

    @Test(arguments: [
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1.0","q":"1""#, "malformed"),
        (#"{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"1.0","q":"1","m":true}"#, "event time"),
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":1.5,"q":"1","m":true}"#, "field p is not a decimal string"),
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1e5","q":"1","m":true}"#, "field p is not a decimal string"),
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"NaN","q":"1","m":true}"#, "field p is not a decimal string"),
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1","q":"1","m":true}"#, "missing field agg_trade_id"),
        (#"{"e":"aggTrade","E":1.5,"s":"BTCUSDT","a":1,"p":"1","q":"1","m":true}"#, "event time"),
        (#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","m":"yes"}"#, "field m is not a boolean"),
        (#"[{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","m":true},3]"#, "not an object"),
        ("", "empty"),
    ])
    func malformedFramesThrowAndAppendNothing(json: String, reason: String) throws {
        let name = try BinanceStreamName("btcusdt@aggTrade", market: .usdm)
        var entries: [StreamEntry] = []
        var text = json
        let error = text.withUTF8 { utf8 -> NormalizationError? in
            do {
                try MarketDataNormalizer().normalize(frame: UnsafeRawBufferPointer(utf8), stream: name, receiveTimeMicroseconds: 1, into: &entries)
                return nil
            } catch {
                return error as? NormalizationError
            }
        }
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        #expect(entries.isEmpty)
    }

    @Test func depthLevelsThatAreNotPairsAreRejected() {
        let name = try! BinanceStreamName("btcusdt@depth", market: .usdm)
        var entries: [StreamEntry] = []
        var text = #"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["1","2","3"]],"a":[]}"#
        #expect(throws: NormalizationError.self) {
            try text.withUTF8 { try MarketDataNormalizer().normalize(frame: UnsafeRawBufferPointer($0), stream: name, receiveTimeMicroseconds: 1, into: &entries) }
        }
    }

    /// Depth levels take a one-pass formatter of their own; it must agree with the one every
    /// other field uses, for any decimal and precision.
    @Test func depthLevelFormattingAgreesWithFieldFormatting() throws {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789")
        for _ in 0..<2_000 {
            let integer = String((0..<Int.random(in: 1...18, using: &generator)).map { _ in digits.randomElement(using: &generator)! })
            let fraction = String((0..<Int.random(in: 0...18, using: &generator)).map { _ in Bool.random(using: &generator) ? "0" : digits.randomElement(using: &generator)! })
            let value = (Bool.random(using: &generator) ? "-" : "") + integer + (fraction.isEmpty && Bool.random(using: &generator) ? "" : "." + fraction)
            let precision = InstrumentPrecision(priceDecimals: Int.random(in: 0...8, using: &generator), quantityDecimals: Int.random(in: 0...8, using: &generator))
            let normalizer = MarketDataNormalizer(instruments: InstrumentPrecisions([.usdm: ["BTCUSDT": precision]]))
            var entries: [StreamEntry] = []
            var trade = #"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"\#(value)","q":"\#(value)","m":true}"#
            var depth = #"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["\#(value)","\#(value)"]],"a":[]}"#
            try trade.withUTF8 { try normalizer.normalize(frame: UnsafeRawBufferPointer($0), stream: try BinanceStreamName("btcusdt@aggTrade", market: .usdm), receiveTimeMicroseconds: 1, into: &entries) }
            try depth.withUTF8 { try normalizer.normalize(frame: UnsafeRawBufferPointer($0), stream: try BinanceStreamName("btcusdt@depth", market: .usdm), receiveTimeMicroseconds: 1, into: &entries) }
            let price = try #require(entries[0].value(of: "price"))
            let qty = try #require(entries[0].value(of: "qty"))
            #expect(entries[1].value(of: "bids") == #"[["\#(price)","\#(qty)"]]"#, "\(value) at \(precision)")
        }
    }

    /// Edge cases of level decimals, far from the frame's end and right at it (where a reader
    /// that looks ahead would run out of bytes): the same rejections, the same formatting.
    @Test func levelDecimalEdgeCasesFarFromAndAtTheFramesEnd() throws {
        let name = try BinanceStreamName("btcusdt@depth", market: .usdm)
        let normalizer = MarketDataNormalizer(instruments: InstrumentPrecisions([.usdm: ["BTCUSDT": InstrumentPrecision(priceDecimals: 2, quantityDecimals: 0)]]))
        let tail = #","T":1700000000000,"x":"padding to read sixteen bytes past"}"#
        func bids(_ price: String, _ qty: String, tail: String) throws -> String? {
            var entries: [StreamEntry] = []
            var text = #"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"a":[],"b":[["\#(price)","\#(qty)"]]"# + tail
            try text.withUTF8 { bytes in try normalizer.normalize(frame: UnsafeRawBufferPointer(bytes), stream: name, receiveTimeMicroseconds: 1, into: &entries) }
            return entries.first?.value(of: "bids")
        }
        for bad in ["", "1.2.3", ".5", "1e5", "1,5", "12a", "--1", "1 ", "+1", "١"] {
            #expect(throws: NormalizationError.self, "\(bad)") { _ = try bids(bad, "1", tail: tail) }
            #expect(throws: NormalizationError.self, "\(bad), end of frame") { _ = try bids(bad, "1", tail: "}") }
        }
        let cases: [(String, String)] = [
            ("5", "5.00"), ("5.", "5.00"), ("5.1", "5.10"), ("5.123", "5.123"), ("5.12000", "5.12"), ("0.000", "0.00"),
            ("00.10", "00.10"), ("123456789012345", "123456789012345.00"), ("12345678901234.5", "12345678901234.50"),
            ("1234567890123456", "1234567890123456.00"), ("-1.5", "-1.50"), ("7.00000000000001", "7.00000000000001"),
        ]
        for (price, formatted) in cases {
            for qty in ["3", "3.0", "3.000", "3.5"] {
                let expectedQty = qty == "3.5" ? "3.5" : "3"
                #expect(try bids(price, qty, tail: tail) == #"[["\#(formatted)","\#(expectedQty)"]]"#, "\(price) \(qty)")
                #expect(try bids(price, qty, tail: "}") == #"[["\#(formatted)","\#(expectedQty)"]]"#, "\(price) \(qty), end of frame")
            }
        }
    }

    @Test func decimalsOfTickAndStepSizes() {
        #expect(DecimalText.decimals(of: "0.10") == 1)
        #expect(DecimalText.decimals(of: "0.00100000") == 3)
        #expect(DecimalText.decimals(of: "1") == 0)
        #expect(DecimalText.decimals(of: "10.0") == 0)
        #expect(DecimalText.decimals(of: "0") == nil)
        #expect(DecimalText.decimals(of: "-0.1") == nil)
        #expect(DecimalText.decimals(of: "abc") == nil)
    }
}

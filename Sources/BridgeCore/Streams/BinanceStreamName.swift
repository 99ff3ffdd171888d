/// A Binance futures stream name, validated and parsed, spelled exactly as Binance spells it
/// (`btcusdt@aggTrade`, `btcusdt@depth@100ms`, `!markPrice@arr@1s`,
/// `btcusdt_perpetual@continuousKline_1m`, COIN-M `btcusd@indexPrice@1s`).
///
/// Binance acknowledges nearly any name and then stays silent when it does not exist
/// (protocol §3), so parsing is strict: every name accepted here is one Binance documents
/// for `market`, and every rejection says why (``BinanceStreamNameError/Reason``).
/// Parsing is for the control path; the hot path keys frames by the raw string.
public struct BinanceStreamName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Longest accepted name, in bytes. Binance documents no limit; real names are under 60
    /// bytes, and this bounds what a control command can make the bridge hold.
    public static let maximumLength = 200

    /// The name exactly as given (and as sent to Binance and used in Redis keys).
    public let rawValue: String
    /// The market the name was validated for.
    public let market: BinanceMarket
    /// The lower-case symbol — or pair, for `continuousKline`, `indexPrice` and
    /// `indexPriceKline`; or asset, for `assetIndex` — or nil for an all-market (`!…`) stream.
    public let symbol: String?
    /// What the stream carries.
    public let type: BinanceStreamType

    /// Parses `name` as a `market` stream, or throws the precise reason it is not one.
    public init(_ name: String, market: BinanceMarket) throws(BinanceStreamNameError) {
        func fail(_ reason: BinanceStreamNameError.Reason) -> BinanceStreamNameError {
            BinanceStreamNameError(name: name, market: market, reason: reason)
        }
        let bytes = name.utf8
        guard !bytes.isEmpty else { throw fail(.empty) }
        guard bytes.count <= Self.maximumLength else { throw fail(.tooLong(maximum: Self.maximumLength)) }
        for (offset, scalar) in name.unicodeScalars.enumerated() where !scalar.isASCII || !Self.isAllowed(UInt8(scalar.value), at: offset) {
            throw fail(.invalidCharacter(String(scalar)))
        }
        rawValue = name
        self.market = market
        if name.hasPrefix("!") {
            symbol = nil
            type = try Self.parseAllMarket(name, market: market, fail: fail)
        } else {
            (symbol, type) = try Self.parseSymbolStream(name, market: market, fail: fail)
        }
    }

    /// Parses a whole request's names (a control command is validated whole, Redis contract
    /// §1): every name, or every rejection in request order so that the reply can list all
    /// the offending streams.
    public static func parseAll(_ names: [String], market: BinanceMarket) -> Result<[BinanceStreamName], BinanceStreamNameErrors> {
        var parsed: [BinanceStreamName] = []
        var errors: [BinanceStreamNameError] = []
        for name in names {
            do { parsed.append(try BinanceStreamName(name, market: market)) } catch { errors.append(error) }
        }
        return errors.isEmpty ? .success(parsed) : .failure(BinanceStreamNameErrors(errors: errors))
    }

    /// True for the all-market (`!…`) streams, which have no symbol.
    public var isAllMarket: Bool { symbol == nil }

    /// The contract's symbol in upper case as Binance writes it in payloads and exchangeInfo
    /// (`BTCUSDT`, `BTCUSD_PERP`; the pair for pair streams), nil for all-market streams.
    public var contractSymbol: String? { symbol?.uppercased() }

    public var description: String { rawValue }

    public static func < (lhs: BinanceStreamName, rhs: BinanceStreamName) -> Bool {
        lhs.rawValue == rhs.rawValue ? lhs.market.rawValue < rhs.market.rawValue : lhs.rawValue < rhs.rawValue
    }

    // MARK: Parsing

    private static func isAllowed(_ byte: UInt8, at offset: Int) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "_"), UInt8(ascii: "@"): true
        case UInt8(ascii: "!"): offset == 0
        default: false
        }
    }

    private typealias Fail = (BinanceStreamNameError.Reason) -> BinanceStreamNameError

    private static func parseAllMarket(_ name: String, market: BinanceMarket, fail: Fail) throws(BinanceStreamNameError) -> BinanceStreamType {
        let type: BinanceStreamType
        var usdmOnly = false
        switch name {
        case "!bookTicker": type = .bookTicker
        case "!markPrice@arr": (type, usdmOnly) = (.markPrice(speed: .threeSeconds), true)
        case "!markPrice@arr@1s": (type, usdmOnly) = (.markPrice(speed: .oneSecond), true)
        case "!miniTicker@arr": type = .miniTicker
        case "!ticker@arr": type = .ticker
        case "!forceOrder@arr": type = .forceOrder
        case "!contractInfo": type = .contractInfo
        case "!assetIndex@arr": (type, usdmOnly) = (.assetIndex, true)
        case "!markPrice@arr@3s": throw fail(.explicitDefaultSpeed("3s"))
        default:
            if name.hasPrefix("!markPrice@arr@") { throw fail(.badSpeed(String(name.dropFirst("!markPrice@arr@".count)))) }
            throw fail(.unknownAllMarketStream)
        }
        if usdmOnly && market != .usdm { throw fail(.onlyOn(.usdm)) }
        return type
    }

    /// Types that take no parameters, by Binance's spelling.
    private static let plainTypes: [String: BinanceStreamType] = [
        "aggTrade": .aggTrade, "trade": .trade, "bookTicker": .bookTicker, "miniTicker": .miniTicker,
        "ticker": .ticker, "forceOrder": .forceOrder, "compositeIndex": .compositeIndex, "assetIndex": .assetIndex,
    ]

    /// Every type spelling (prefix for the kline families), to diagnose a wrong case.
    private static let typeSpellings = [
        "aggTrade", "trade", "bookTicker", "miniTicker", "ticker", "forceOrder", "compositeIndex", "assetIndex",
        "depth", "rpiDepth", "markPrice", "indexPrice", "kline_", "continuousKline_", "markPriceKline_", "indexPriceKline_",
    ]

    private static func parseSymbolStream(
        _ name: String,
        market: BinanceMarket,
        fail: Fail
    ) throws(BinanceStreamNameError) -> (String, BinanceStreamType) {
        let parts = name.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { throw fail(.missingType) }
        guard parts.count <= 3 else { throw fail(.malformed) }
        var symbol = String(parts[0])
        guard !symbol.isEmpty, symbol.first != "_", symbol.last != "_" else { throw fail(.badSymbol) }
        guard !symbol.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            throw fail(.upperCaseSymbol)
        }
        guard !parts[1].isEmpty, parts.count < 3 || !parts[2].isEmpty else { throw fail(.malformed) }
        let typeName = String(parts[1])
        let suffix = parts.count == 3 ? String(parts[2]) : nil

        func noSuffix() throws(BinanceStreamNameError) {
            if let suffix { throw fail(.badSpeed(suffix)) }
        }
        func depthSpeed() throws(BinanceStreamNameError) -> BinanceStreamType.DepthSpeed {
            switch suffix {
            case nil: return .milliseconds250
            case "100ms": return .milliseconds100
            case "500ms": return .milliseconds500
            case "250ms": throw fail(.explicitDefaultSpeed("250ms"))
            case let other?: throw fail(.badSpeed(other))
            }
        }
        func priceSpeed() throws(BinanceStreamNameError) -> BinanceStreamType.PriceSpeed {
            switch suffix {
            case nil: return .threeSeconds
            case "1s": return .oneSecond
            case "3s": throw fail(.explicitDefaultSpeed("3s"))
            case let other?: throw fail(.badSpeed(other))
            }
        }
        func interval(after prefix: String) throws(BinanceStreamNameError) -> KlineInterval {
            try noSuffix()
            let spelled = String(typeName.dropFirst(prefix.count))
            guard let interval = KlineInterval(rawValue: spelled) else { throw fail(.badInterval(spelled)) }
            return interval
        }
        /// Splits `<pair>_<ct>`; the pair never contains `_`, so the first one separates.
        func splitContractType(required: Bool) throws(BinanceStreamNameError) -> BinanceStreamType.ContractType? {
            guard let split = symbol.firstIndex(of: "_") else {
                if required { throw fail(.badContractType("")) }
                return nil
            }
            let spelled = String(symbol[symbol.index(after: split)...])
            guard let contractType = BinanceStreamType.ContractType(rawValue: spelled) else { throw fail(.badContractType(spelled)) }
            symbol = String(symbol[..<split])
            return contractType
        }

        let type: BinanceStreamType
        if let plain = plainTypes[typeName] {
            try noSuffix()
            type = plain
        } else if typeName == "depth" {
            type = .depth(speed: try depthSpeed())
        } else if typeName == "depth5" || typeName == "depth10" || typeName == "depth20" {
            type = .partialDepth(levels: Int(typeName.dropFirst(5))!, speed: try depthSpeed())
        } else if typeName == "rpiDepth" {
            guard suffix == "500ms" else { throw fail(.badSpeed(suffix ?? "")) }
            type = .rpiDepth
        } else if typeName == "markPrice" {
            type = .markPrice(speed: try priceSpeed())
        } else if typeName == "indexPrice" {
            type = .indexPrice(speed: try priceSpeed())
        } else if typeName.hasPrefix("kline_") {
            type = .kline(interval: try interval(after: "kline_"))
        } else if typeName.hasPrefix("markPriceKline_") {
            type = .markPriceKline(interval: try interval(after: "markPriceKline_"))
        } else if typeName.hasPrefix("continuousKline_") {
            let klineInterval = try interval(after: "continuousKline_")
            type = .continuousKline(contractType: try splitContractType(required: true)!, interval: klineInterval)
        } else if typeName.hasPrefix("indexPriceKline_") {
            let klineInterval = try interval(after: "indexPriceKline_")
            type = .indexPriceKline(contractType: try splitContractType(required: false), interval: klineInterval)
        } else {
            let lowered = typeName.lowercased()
            if let expected = typeSpellings.first(where: { lowered == $0.lowercased() || ($0.hasSuffix("_") && lowered.hasPrefix($0.lowercased())) }) {
                throw fail(.wrongCaseType(expected: expected.hasSuffix("_") ? expected + typeName.dropFirst(expected.count) : expected))
            }
            throw fail(.unknownType(typeName))
        }
        if !type.kind.isAvailable(on: market) {
            throw fail(.onlyOn(market == .usdm ? .coinm : .usdm))
        }
        return (symbol, type)
    }
}

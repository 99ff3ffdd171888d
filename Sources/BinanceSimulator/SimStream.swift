/// A Binance futures stream name the simulator understands, parsed.
///
/// Names that are well-formed but unknown (an unknown symbol, a type the simulator does not
/// model, `@250ms` spelled out) parse to `nil` and are acknowledged and then silent — exactly
/// what Binance does (protocol §3). Only malformed names (see ``isWellFormed(_:)``) are errors.
struct SimStream: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case aggTrade
        case trade
        case bookTicker
        /// Diff depth every `speed` ms (100, 250, 500).
        case depthDiff(speed: Int)
        /// Top `levels` (5, 10, 20) every `speed` ms.
        case depthPartial(levels: Int, speed: Int)
        /// Mark price every `seconds` (1 or 3). On COIN-M the name's first part may be a pair
        /// (`btcusd@markPrice`): then it carries every contract of the pair, as an array.
        case markPrice(seconds: Int)
        case kline(interval: String)
        case miniTicker
        case ticker
        /// `<pair>_<contracttype>@continuousKline_<i>`: the kline of the contract of that pair
        /// and type. `contractType` is upper case as in exchangeInfo (`PERPETUAL`).
        case continuousKline(contractType: String, interval: String)
        /// Liquidation orders (`<s>@forceOrder`, `!forceOrder@arr`).
        case forceOrder
        /// USD-M `<s>@compositeIndex`.
        case compositeIndex
        /// `!contractInfo` (all-market only).
        case contractInfo
        /// USD-M multi-assets `<asset>@assetIndex` (e.g. `btcusd`) and `!assetIndex@arr`.
        case assetIndex
        /// COIN-M `<pair>@indexPrice[@1s]` every `seconds` (1 or 3).
        case indexPrice(seconds: Int)
        /// COIN-M `<s>@markPriceKline_<i>`.
        case markPriceKline(interval: String)
        /// COIN-M `<pair>@indexPriceKline_<i>` (Binance's documentation) or
        /// `<pair>_<ct>@indexPriceKline_<i>` (the protocol file's spelling); both are accepted,
        /// the index being per pair. `contractType` is the upper-case `<ct>` when spelled.
        case indexPriceKline(contractType: String?, interval: String)
    }

    /// The exact name, as subscribed.
    let name: String
    /// Lower-case symbol — or pair, for the pair streams (`continuousKline`, `indexPrice`,
    /// `indexPriceKline`, COIN-M pair `markPrice`) and asset index (`assetIndex`) — or nil for
    /// an all-market (`!…`) stream.
    let symbol: String?
    let kind: Kind

    /// Contract types of `continuousKline` names, lower case as in the name.
    static let continuousContractTypes: Set<String> = ["perpetual", "current_quarter", "next_quarter"]

    /// Binance's kline intervals, shortest first: the feed emits in this order, so the order of
    /// messages within a tick is the same in every process (a `Set`'s is not).
    static let klineIntervalOrder = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]
    static let klineIntervals = Set(klineIntervalOrder)

    /// Interval length in milliseconds (a month counts as 30 days in the simulator).
    static func intervalMilliseconds(_ interval: String) -> Int64 {
        let unit = interval.last!
        let count = Int64(interval.dropLast())!
        switch unit {
        case "m": return count * 60_000
        case "h": return count * 3_600_000
        case "d": return count * 86_400_000
        case "w": return count * 7 * 86_400_000
        default: return count * 30 * 86_400_000
        }
    }

    /// Parses a name; nil when it is well-formed but not one the simulator produces.
    static func parse(_ name: String) -> SimStream? {
        if name.hasPrefix("!") {
            let kind: Kind? =
                switch name {
                case "!bookTicker": .bookTicker
                case "!markPrice@arr": .markPrice(seconds: 3)
                case "!markPrice@arr@1s": .markPrice(seconds: 1)
                case "!miniTicker@arr": .miniTicker
                case "!ticker@arr": .ticker
                case "!forceOrder@arr": .forceOrder
                case "!contractInfo": .contractInfo
                case "!assetIndex@arr": .assetIndex
                default: nil
                }
            return kind.map { SimStream(name: name, symbol: nil, kind: $0) }
        }
        let parts = name.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, parts[0] == parts[0].lowercased() else { return nil }
        var symbol = parts[0]
        let type = parts[1]
        let suffix = parts.count > 2 ? parts[2] : nil
        guard parts.count <= 3 else { return nil }
        func speed() -> Int? {
            switch suffix {
            case nil: 250
            case "100ms": 100
            case "500ms": 500
            default: nil  // including an explicit "@250ms": acked and silent on Binance
            }
        }
        /// The interval of a `<prefix><interval>` type, if Binance has it.
        func klineInterval(after prefix: String) -> String? {
            let interval = String(type.dropFirst(prefix.count))
            return klineIntervals.contains(interval) ? interval : nil
        }
        let kind: Kind?
        switch type {
        case "aggTrade" where suffix == nil: kind = .aggTrade
        case "trade" where suffix == nil: kind = .trade
        case "bookTicker" where suffix == nil: kind = .bookTicker
        case "depth": kind = speed().map { .depthDiff(speed: $0) }
        case "depth5", "depth10", "depth20":
            let levels = Int(type.dropFirst(5))!
            kind = speed().map { .depthPartial(levels: levels, speed: $0) }
        case "markPrice":
            kind = suffix == nil ? .markPrice(seconds: 3) : (suffix == "1s" ? .markPrice(seconds: 1) : nil)
        case "miniTicker" where suffix == nil: kind = .miniTicker
        case "ticker" where suffix == nil: kind = .ticker
        case "forceOrder" where suffix == nil: kind = .forceOrder
        case "compositeIndex" where suffix == nil: kind = .compositeIndex
        case "assetIndex" where suffix == nil: kind = .assetIndex
        case "indexPrice":
            kind = suffix == nil ? .indexPrice(seconds: 3) : (suffix == "1s" ? .indexPrice(seconds: 1) : nil)
        case _ where suffix == nil && type.hasPrefix("kline_"):
            kind = klineInterval(after: "kline_").map { .kline(interval: $0) }
        case _ where suffix == nil && type.hasPrefix("markPriceKline_"):
            kind = klineInterval(after: "markPriceKline_").map { .markPriceKline(interval: $0) }
        case _ where suffix == nil && type.hasPrefix("continuousKline_"):
            // `btcusd_current_quarter`: a pair never contains `_`, so the first one splits.
            guard let split = symbol.firstIndex(of: "_") else { return nil }
            let contractType = String(symbol[symbol.index(after: split)...])
            guard continuousContractTypes.contains(contractType), let interval = klineInterval(after: "continuousKline_") else { return nil }
            symbol = String(symbol[..<split])
            kind = .continuousKline(contractType: contractType.uppercased(), interval: interval)
        case _ where suffix == nil && type.hasPrefix("indexPriceKline_"):
            var contractType: String?
            if let split = symbol.firstIndex(of: "_") {
                let spelled = String(symbol[symbol.index(after: split)...])
                guard continuousContractTypes.contains(spelled) else { return nil }
                contractType = spelled.uppercased()
                symbol = String(symbol[..<split])
            }
            kind = klineInterval(after: "indexPriceKline_").map { .indexPriceKline(contractType: contractType, interval: $0) }
        default: kind = nil
        }
        return kind.map { SimStream(name: name, symbol: symbol, kind: $0) }
    }

    /// Syntax check for `SUBSCRIBE` params. Assumption (Binance does not document it): a name
    /// must be 1–200 printable ASCII characters without spaces, quotes, `/` or `\`, and
    /// either start with `!` or contain `@`; anything else gets error code 2.
    static func isWellFormed(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200 else { return false }
        guard name.hasPrefix("!") || name.contains("@") else { return false }
        return name.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "\\")
        }
    }

    /// The USD-M route that carries this stream (protocol §1): books and book tickers (and the
    /// undocumented `trade`) on `/public`, everything else — including `continuousKline`,
    /// `forceOrder`, `compositeIndex`, `!contractInfo` and `assetIndex` — on `/market`.
    /// Unparsed names go to `/market`, where Binance's documentation puts most types.
    static func route(of name: String) -> SimRoute {
        guard let stream = parse(name) else { return .market }
        switch stream.kind {
        case .bookTicker, .depthDiff, .depthPartial, .trade: return .public
        default: return .market
        }
    }
}

/// The URL route of a WebSocket connection.
public enum SimRoute: String, Sendable, CaseIterable {
    case `public`
    case market
    /// `/ws`, `/stream` without a route: behaves as `/public` on USD-M (protocol §1).
    case unrouted
}

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
        /// Mark price every `seconds` (1 or 3).
        case markPrice(seconds: Int)
        case kline(interval: String)
        case miniTicker
        case ticker
    }

    /// The exact name, as subscribed.
    let name: String
    /// Lower-case symbol, or nil for an all-market (`!…`) stream.
    let symbol: String?
    let kind: Kind

    static let klineIntervals: Set<String> = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]

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
                default: nil
                }
            return kind.map { SimStream(name: name, symbol: nil, kind: $0) }
        }
        let parts = name.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, parts[0] == parts[0].lowercased() else { return nil }
        let symbol = parts[0]
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
        case _ where type.hasPrefix("kline_") && suffix == nil:
            let interval = String(type.dropFirst(6))
            kind = klineIntervals.contains(interval) ? .kline(interval: interval) : nil
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
    /// undocumented `trade`) on `/public`, everything else on `/market`. Unparsed names go to
    /// `/market`, where Binance's documentation puts most types.
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

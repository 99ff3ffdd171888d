/// A stream name that ``BinanceStreamName`` rejects, with the precise reason.
///
/// Binance acknowledges almost any name and then stays silent (protocol §3), so every
/// rejection here is a subscription that would never have delivered.
public struct BinanceStreamNameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a name was rejected.
    public enum Reason: Sendable, Equatable {
        /// The name is empty.
        case empty
        /// The name is longer than ``BinanceStreamName/maximumLength`` bytes.
        case tooLong(maximum: Int)
        /// A character outside `a-z 0-9 _ @` (and a leading `!`).
        case invalidCharacter(String)
        /// The symbol has upper-case letters: Binance acknowledges it and sends nothing.
        case upperCaseSymbol
        /// Nothing before the `@`, or a symbol that starts or ends with `_`.
        case badSymbol
        /// No `@<type>` after the symbol.
        case missingType
        /// An empty part between two `@`, or more parts than any stream has.
        case malformed
        /// A type Binance does not have.
        case unknownType(String)
        /// A type spelled with the wrong case (`aggtrade`); the associated value is Binance's spelling.
        case wrongCaseType(expected: String)
        /// An all-market (`!…`) stream Binance does not have.
        case unknownAllMarketStream
        /// A kline interval Binance does not have (`kline_2m`).
        case badInterval(String)
        /// A speed suffix the type does not accept (`depth@200ms`, `markPrice@2s`, or a
        /// suffix on a type that takes none).
        case badSpeed(String)
        /// The default speed spelled out (`depth20@250ms`, `markPrice@3s`): acked and silent.
        case explicitDefaultSpeed(String)
        /// A `continuousKline`/`indexPriceKline` contract type other than `perpetual`,
        /// `current_quarter` or `next_quarter`, or a missing one where it is required.
        case badContractType(String)
        /// The type exists, but only on the other market (the associated value).
        case onlyOn(BinanceMarket)
    }

    /// The name as given.
    public var name: String
    /// The market it was parsed for.
    public var market: BinanceMarket
    /// Why it was rejected.
    public var reason: Reason

    /// An error for `name` on `market`.
    public init(name: String, market: BinanceMarket, reason: Reason) {
        self.name = name
        self.market = market
        self.reason = reason
    }

    public var description: String {
        let why: String =
            switch reason {
            case .empty: "empty stream name"
            case .tooLong(let maximum): "longer than \(maximum) bytes"
            case .invalidCharacter(let character): "invalid character \"\(character)\""
            case .upperCaseSymbol: "the symbol must be lower case (Binance acknowledges upper case and sends nothing)"
            case .badSymbol: "missing or malformed symbol before \"@\""
            case .missingType: "missing \"@<type>\""
            case .malformed: "empty or extra \"@\" part"
            case .unknownType(let type): "unknown stream type \"\(type)\""
            case .wrongCaseType(let expected): "stream type must be spelled \"\(expected)\""
            case .unknownAllMarketStream: "unknown all-market (\"!\") stream"
            case .badInterval(let interval): "unknown kline interval \"\(interval)\""
            case .badSpeed(let speed): "speed \"\(speed)\" not offered for this stream type"
            case .explicitDefaultSpeed(let speed):
                "the default speed is spelled by omitting \"@\(speed)\" (Binance acknowledges it and sends nothing)"
            case .badContractType(let type): "unknown or missing contract type \"\(type)\""
            case .onlyOn(let market): "this stream type exists only on \(market.rawValue)"
            }
        return "stream \"\(name)\" (\(market.rawValue)): \(why)"
    }
}

/// Every rejected name of one request (``BinanceStreamName/parseAll(_:market:)``).
public struct BinanceStreamNameErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rejections, in request order.
    public var errors: [BinanceStreamNameError]

    /// The names rejected, in request order (the reply's `streams`).
    public var names: [String] { errors.map(\.name) }

    public var description: String { errors.map(\.description).joined(separator: "; ") }
}

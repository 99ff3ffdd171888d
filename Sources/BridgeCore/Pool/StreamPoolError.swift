/// Why the stream pool refused a request. Nothing changed when this is thrown.
public struct StreamPoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong; extensible (new codes may be added). `rawValue` is the code written
    /// in control replies where the Redis contract has one (`pool_exhausted`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case poolExhausted = "pool_exhausted"
            case wrongMarket = "wrong_market"
        }

        private let base: Base

        /// The request would exceed `maxConnections × maxStreamsPerConnection`.
        public static let poolExhausted = Code(base: .poolExhausted)
        /// A stream was parsed for the other market than this pool's.
        public static let wrongMarket = Code(base: .wrongMarket)

        /// The code's wire spelling.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence for logs and replies.
    public var message: String
    /// The streams the request could not place (all of the request's new streams, since a
    /// request is all-or-nothing).
    public var streams: [BinanceStreamName]

    /// An error of `code`.
    public init(code: Code, message: String, streams: [BinanceStreamName]) {
        self.code = code
        self.message = message
        self.streams = streams
    }

    public var description: String { "\(code): \(message)" }
}

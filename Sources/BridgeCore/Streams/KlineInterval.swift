/// A kline (candlestick) interval exactly as Binance spells it in stream names
/// (`kline_1m`, `continuousKline_4h`, …). Case matters: `1m` is a minute, `1M` a month.
public struct KlineInterval: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Binance's spelling, e.g. `"15m"`.
    public let rawValue: String

    /// Every interval Binance futures offer, shortest first.
    public static let all: [KlineInterval] = [
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
    ].map { KlineInterval(uncheckedRawValue: $0) }

    private static let spellings: Set<String> = Set(all.map(\.rawValue))

    /// The interval spelled `rawValue`, or nil when Binance has no such interval.
    public init?(rawValue: String) {
        guard Self.spellings.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    private init(uncheckedRawValue: String) {
        rawValue = uncheckedRawValue
    }

    public var description: String { rawValue }
}

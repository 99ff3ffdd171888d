import RedisClient

/// The benchmark payload: an `agg_trade` entry exactly as the contract (section 2) shapes it,
/// 13 fields. The same fields feed `redis-benchmark` in the comparison script, so both
/// sides write identical entries.
public enum AggTradeEntry {
    /// Field/value pairs of one entry.
    public static let fields: [(String, String)] = [
        ("type", "agg_trade"),
        ("market", "usdm"),
        ("symbol", "BTCUSDT"),
        ("stream", "btcusdt@aggTrade"),
        ("event_time_ms", "1764032400123"),
        ("recv_time_us", "1764032400125871"),
        ("agg_trade_id", "2735920311"),
        ("price", "97312.40"),
        ("qty", "0.013"),
        ("first_trade_id", "6134790001"),
        ("last_trade_id", "6134790003"),
        ("trade_time_ms", "1764032400118"),
        ("side", "buy"),
    ]

    /// The trimming bound used on both sides (the contract's default `redis.maxlen`).
    public static let maxlen = 100_000

    /// Appends `count` XADDs of the entry to `batch`.
    public static func append(count: Int, key: String, to batch: inout RedisCommandBatch) {
        for _ in 0..<count {
            batch.beginXAdd(key: key, maxlen: maxlen, fieldCount: fields.count)
            for (field, value) in fields {
                batch.appendArgument(field)
                batch.appendArgument(value)
            }
        }
    }

    /// The same command as `redis-benchmark` arguments: `XADD key MAXLEN ~ N * f v …`.
    public static func redisBenchmarkArguments(key: String) -> [String] {
        ["XADD", key, "MAXLEN", "~", String(maxlen), "*"] + fields.flatMap { [$0.0, $0.1] }
    }
}

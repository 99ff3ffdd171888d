/// Why data may be missing, the `reason` of a `gap` marker (Redis contract §2).
public enum GapReason: String, Sendable, CaseIterable {
    /// The connection dropped and came back.
    case reconnect
    /// A connection rotation could not hand over without a window.
    case rotation
    /// The stream was silent past its cadence and was resubscribed.
    case stale
    /// An order book's update ids did not chain.
    case sequence
    /// The publisher's buffer overflowed while Redis was slow or away.
    case overflow
    /// The bridge was not running (a restart or a crash).
    case restart
}

/// A subscription state change, the `status` of a `status` marker.
public enum StreamStatus: String, Sendable, CaseIterable {
    case subscribed, unsubscribed, stale, resumed
}

extension StreamEntry {
    /// A `gap` marker for `stream`: data between `start` and `end` (µs since the epoch) may
    /// be missing. `details` are the reason's own fields (`dropped`, `expected_prev_update_id`…).
    public static func gap(
        stream: BinanceStreamName,
        reason: GapReason,
        startMicroseconds: Int64,
        endMicroseconds: Int64,
        timeMicroseconds: Int64,
        details: KeyValuePairs<StaticString, Int64> = [:]
    ) -> StreamEntry {
        var entry = marker(stream: stream, type: .gap, timeMicroseconds: timeMicroseconds)
        entry.appendField("reason", reason.rawValue)
        entry.appendField("gap_start_us", startMicroseconds)
        entry.appendField("gap_end_us", Swift.max(startMicroseconds, endMicroseconds))
        for (name, value) in details { entry.appendField(name, value) }
        return entry
    }

    /// A `status` marker for `stream`.
    public static func status(
        stream: BinanceStreamName,
        _ status: StreamStatus,
        timeMicroseconds: Int64,
        details: KeyValuePairs<StaticString, Int64> = [:]
    ) -> StreamEntry {
        var entry = marker(stream: stream, type: .status, timeMicroseconds: timeMicroseconds)
        entry.appendField("status", status.rawValue)
        for (name, value) in details { entry.appendField(name, value) }
        return entry
    }

    /// The fields every marker has: `type`, `market`, `symbol` (when the stream has one),
    /// `stream` and `time_us` (when the bridge wrote it).
    private static func marker(stream: BinanceStreamName, type: EntryType, timeMicroseconds: Int64) -> StreamEntry {
        var entry = StreamEntry(stream: stream.rawValue, market: stream.market, type: type, timeMicroseconds: timeMicroseconds, reservingCapacity: 256)
        entry.appendField("market", stream.market.rawValue)
        if let symbol = stream.contractSymbol { entry.appendField("symbol", symbol) }
        entry.appendField("stream", stream.rawValue)
        entry.appendField("time_us", timeMicroseconds)
        return entry
    }
}

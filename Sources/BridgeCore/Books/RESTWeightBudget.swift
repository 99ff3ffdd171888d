/// Pacing of REST requests under Binance's request-weight limit (protocol §5): a budget of
/// weight per clock minute (the window Binance counts in), shared by every request of the
/// process (`fapi` and `dapi` share one budget), and a pause when Binance says so (`429`
/// `Retry-After`, or a `418` ban).
///
/// Pure: times are milliseconds since the epoch, given by the caller.
public struct RESTWeightBudget: Sendable, Equatable {
    /// Weight this process may use per minute (kept under Binance's 2,400 so that other
    /// clients on the same IP, and requests Binance counts that we do not, have room).
    public let limitPerMinute: Int
    /// Start of the minute `used` counts, ms.
    public private(set) var windowStart: Int64 = 0
    /// Weight used in the current minute: ours, or what Binance reported if more.
    public private(set) var used = 0
    /// No request before this time (a `429`/`418`), ms.
    public private(set) var pausedUntil: Int64 = 0

    public init(limitPerMinute: Int) {
        precondition(limitPerMinute > 0)
        self.limitPerMinute = limitPerMinute
    }

    /// Weight of `GET depth` with `limit` (protocol §5): 5, 10, 20, 50 → 2; 100 → 5;
    /// 500 → 10; 1000 → 20.
    public static func depthWeight(limit: Int) -> Int {
        switch limit {
        case ...50: 2
        case ...100: 5
        case ...500: 10
        default: 20
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Send now; the weight is counted.
        case send
        /// Wait until this time (ms) and ask again.
        case wait(until: Int64)
    }

    /// Asks to send a request of `weight` at `now`.
    public mutating func reserve(_ weight: Int, now: Int64) -> Decision {
        if now < pausedUntil { return .wait(until: pausedUntil) }
        roll(now)
        // A request heavier than the whole budget still goes, alone in its minute.
        guard used + weight <= limitPerMinute || used == 0 else { return .wait(until: windowStart + 60_000) }
        used += weight
        return .send
    }

    /// Binance's count for this minute (`X-MBX-USED-WEIGHT-1M`), which includes requests made
    /// by others from the same IP.
    public mutating func reported(used reportedUsed: Int, now: Int64) {
        roll(now)
        used = max(used, reportedUsed)
    }

    /// Binance asked for a pause (`Retry-After` seconds of a `429` or `418`).
    public mutating func pause(seconds: Int, now: Int64) {
        pausedUntil = max(pausedUntil, now + Int64(max(1, seconds)) * 1_000)
    }

    private mutating func roll(_ now: Int64) {
        let minute = now - now % 60_000
        if minute != windowStart {
            windowStart = minute
            used = 0
        }
    }
}

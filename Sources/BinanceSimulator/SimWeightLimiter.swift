/// Binance's REST request-weight accounting (protocol §5): a budget per clock minute; over
/// it → `429` with `Retry-After`; requests that keep coming while limited → `418` and a ban.
///
/// Assumption (Binance states no exact rule): three requests rejected with 429 in the same
/// minute trigger the ban, which lasts 2 minutes (Binance's smallest).
struct SimWeightLimiter {
    enum Verdict: Equatable {
        case allowed(usedWeight: Int)
        /// `429`; retry after this many seconds.
        case limited(retryAfter: Int, usedWeight: Int)
        /// `418`; banned until `until` (ms).
        case banned(until: Int64)
    }

    let limitPerMinute: Int
    private var minute: Int64 = -1
    private var used = 0
    private var rejections = 0
    private var bannedUntil: Int64 = 0
    static let banMilliseconds: Int64 = 120_000

    init(limitPerMinute: Int) {
        self.limitPerMinute = limitPerMinute
    }

    /// Charges `weight` at time `now` (ms).
    mutating func charge(_ weight: Int, now: Int64) -> Verdict {
        if now < bannedUntil { return .banned(until: bannedUntil) }
        let currentMinute = now / 60_000
        if currentMinute != minute {
            minute = currentMinute
            used = 0
            rejections = 0
        }
        if used + weight > limitPerMinute {
            rejections += 1
            if rejections >= 3 {
                bannedUntil = now + Self.banMilliseconds
                return .banned(until: bannedUntil)
            }
            let retryAfter = Int((currentMinute + 1) * 60_000 - now + 999) / 1000
            return .limited(retryAfter: retryAfter, usedWeight: used)
        }
        used += weight
        return .allowed(usedWeight: used)
    }
}

import BridgeCore
import Metrics
import RedisClient

/// Counter series that exist, at 0, from start-up.
///
/// Why: Prometheus's `rate()` and `increase()` need two samples of a series. A counter made on
/// its first increment appears at 1 and its first event is invisible to
/// `increase(binance_bridge_gaps_total[5m]) > 0`: the very alert docs/operations.md gives.
/// So every series with a known label set is made up front (the label sets that follow
/// from input, such as control ops and Redis error codes, still appear on first use).
enum BridgeMetricsCatalogue {
    /// `binance_bridge_book_snapshots_total{result}` values (DepthSnapshotFetcher).
    static let snapshotResults = ["ok", "failed", "rest_rate_limited", "rest_banned"]

    /// `binance_bridge_book_errors_total{code}` values (BookKeeper's own, and the snapshot
    /// failures DepthSnapshotFetcher reports through it).
    static let bookErrorCodes = ["snapshot_too_old", "book_bad_message", "snapshot_failed", "rest_rate_limited", "rest_banned"]
    /// `binance_bridge_redis_errors_total{code}` values: the failures a running bridge meets.
    static let redisErrorCodes: [RedisClientError.Code] = [.connectionFailed, .connectionClosed, .timeout, .io, .protocolError, .serverError, .authenticationFailed]

    static func primeCounters(markets: [BinanceMarket]) {
        for code in redisErrorCodes {
            _ = Counter(label: "binance_bridge_redis_errors_total", dimensions: [("code", code.description)])
        }
        for reason in GapReason.allCases {
            _ = Counter(label: "binance_bridge_gaps_total", dimensions: [("reason", reason.rawValue)])
        }
        for market in markets {
            for label in ["binance_bridge_reconnects_total", "binance_bridge_rotations_total", "binance_bridge_book_syncs_total", "binance_bridge_subscribe_refusals_total"] {
                _ = Counter(label: label, dimensions: [("market", market.rawValue)])
            }
            for code in bookErrorCodes {
                _ = Counter(label: "binance_bridge_book_errors_total", dimensions: [("market", market.rawValue), ("code", code)])
            }
            for result in snapshotResults {
                _ = Counter(label: "binance_bridge_book_snapshots_total", dimensions: [("market", market.rawValue), ("result", result)])
            }
        }
        _ = Counter(label: "binance_bridge_replies_lost_total")
    }
}

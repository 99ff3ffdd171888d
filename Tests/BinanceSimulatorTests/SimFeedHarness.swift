import BridgeCore
import Foundation
import Testing
@testable import BinanceSimulator

/// Drives a ``SimMarketFeed`` on a fake clock, as the server does, and collects the payloads of
/// the wanted streams parsed with `JSONSerialization` (fine in tests).
struct SimFeedHarness {
    /// One emitted message: the tick it was emitted at, the stream and the parsed payload.
    struct Message {
        var tick: Int64
        var stream: String
        var text: String
        var json: Any
        var object: [String: Any] { json as! [String: Any] }
        var array: [[String: Any]] { json as! [[String: Any]] }
    }

    /// A minute boundary, so kline windows start with the run.
    static let start: Int64 = 1_800_000_000_000 - 1_800_000_000_000 % 60_000

    /// Runs `ticks` ticks of `step` ms from `start` (the first tick initialises the clock).
    static func run(_ feed: SimMarketFeed, ticks: Int, step: Int64 = 10, from start: Int64 = start, wanted: Set<String>) -> [Message] {
        var messages: [Message] = []
        var now = start
        for _ in 0..<ticks {
            feed.advance(to: now, wants: { wanted.contains($0) }) { stream, payload in
                let json = try! JSONSerialization.jsonObject(with: Data(payload.utf8))
                messages.append(Message(tick: now, stream: stream, text: payload, json: json))
            }
            now += step
        }
        return messages
    }

    static func feed(_ market: BinanceMarket, seed: UInt64 = 11, rate: Double = 200, _ change: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimMarketFeed {
        var configuration = SimulatorConfiguration()
        configuration.seed = seed
        configuration.rate = rate
        change(&configuration)
        return SimMarketFeed(market: market, configuration: configuration)
    }

    static func instrument(_ symbol: String) -> SimInstrument {
        SimInstrument.defaults.first { $0.symbol == symbol }!
    }

    // MARK: Field checks

    /// A JSON integer (not a string, not a boolean).
    static func isInteger(_ value: Any?) -> Bool {
        guard let value, !(value is String), let number = value as? NSNumber else { return false }
        return !isBoolean(value) && number.doubleValue == Double(number.int64Value)
    }

    /// A JSON boolean. swift-corelibs-foundation gives an `__NSCFBoolean` for true/false and a
    /// plain `NSNumber` for numbers, though both answer `is Bool`.
    static func isBoolean(_ value: Any?) -> Bool {
        guard let value else { return false }
        return String(describing: type(of: value)).contains("Boolean") || type(of: value) == Bool.self
    }

    /// A JSON number of any kind (not a string, not a boolean).
    static func isNumber(_ value: Any?) -> Bool {
        guard let value, !(value is String), value as? NSNumber != nil else { return false }
        return !isBoolean(value)
    }

    /// A decimal string with exactly `decimals` digits after the point (none: no point).
    static func isDecimal(_ value: Any?, decimals: Int) -> Bool {
        guard let text = value as? String, !text.isEmpty else { return false }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == (decimals == 0 ? 1 : 2), Int64(parts[0]) != nil else { return false }
        return decimals == 0 || (parts[1].count == decimals && parts[1].allSatisfy(\.isNumber))
    }

    /// A JSON value as sorted-key JSON text, for comparing parsed payloads (NSDictionary
    /// equality of bridged values is unreliable on Linux).
    static func canonical(_ value: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    static func int(_ value: Any?) -> Int64 { (value as! NSNumber).int64Value }

    /// "97312.40" at 2 decimals → 9731240.
    static func units(_ value: Any?, _ decimals: Int) -> Int64 {
        SimBookConsistencyTests.units(value as! String, decimals)
    }
}

import AsyncHTTPClient
import BinanceStreams
import BridgeCore
import Foundation
import Logging
import NIOCore
import RedisClient
import Synchronization

/// One instrument as stored in `{prefix}:instruments:{market}` (Redis contract §4).
public struct Instrument: Sendable, Equatable {
    public var symbol: String
    public var pair: String
    public var contractType: String
    public var status: String
    public var baseAsset: String
    public var quoteAsset: String
    public var marginAsset: String
    public var pricePrecision: Int
    public var quantityPrecision: Int
    public var tickSize: String
    public var stepSize: String
    /// COIN-M: USD per contract.
    public var contractSize: Int64?

    /// Decimals entries are formatted with (from the tick and step sizes, protocol §6).
    public var precision: InstrumentPrecision {
        InstrumentPrecision(tickSize: tickSize, stepSize: stepSize, fallbackDecimals: (pricePrecision, quantityPrecision))
    }

    /// The hash value: the contract's field names.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "symbol": JSONValue(symbol), "pair": JSONValue(pair), "contract_type": JSONValue(contractType), "status": JSONValue(status),
            "base_asset": JSONValue(baseAsset), "quote_asset": JSONValue(quoteAsset), "margin_asset": JSONValue(marginAsset),
            "price_precision": JSONValue(pricePrecision), "quantity_precision": JSONValue(quantityPrecision),
            "tick_size": JSONValue(tickSize), "step_size": JSONValue(stepSize),
        ]
        if let contractSize { object["contract_size"] = JSONValue(contractSize) }
        return .object(object)
    }

    /// Reads a hash value; nil with the reason when a required field is missing or invalid.
    public static func parse(field: String, value: [UInt8]) -> Result<Instrument, InstrumentError> {
        guard let object = JSONValue.parse(value)?.object else { return .failure(InstrumentError(symbol: field, reason: "not a JSON object")) }
        func text(_ key: String) -> String? { object[key]?.string }
        func number(_ key: String) -> Int? { object[key]?.integer.map(Int.init) }
        guard let symbol = text("symbol"), !symbol.isEmpty else { return .failure(InstrumentError(symbol: field, reason: "missing symbol")) }
        guard symbol == field else { return .failure(InstrumentError(symbol: field, reason: "symbol \(symbol) differs from the hash field")) }
        guard let tick = text("tick_size"), DecimalText.decimals(of: tick) != nil else { return .failure(InstrumentError(symbol: field, reason: "missing or invalid tick_size")) }
        guard let step = text("step_size"), DecimalText.decimals(of: step) != nil else { return .failure(InstrumentError(symbol: field, reason: "missing or invalid step_size")) }
        return .success(Instrument(
            symbol: symbol, pair: text("pair") ?? symbol, contractType: text("contract_type") ?? "", status: text("status") ?? "",
            baseAsset: text("base_asset") ?? "", quoteAsset: text("quote_asset") ?? "", marginAsset: text("margin_asset") ?? "",
            pricePrecision: number("price_precision") ?? DecimalText.decimals(of: tick)!,
            quantityPrecision: number("quantity_precision") ?? DecimalText.decimals(of: step)!,
            tickSize: tick, stepSize: step, contractSize: object["contract_size"]?.integer
        ))
    }
}

/// A malformed instrument entry (skipped, reported).
public struct InstrumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var symbol: String
    public var reason: String
    public var description: String { "instrument \(symbol): \(reason)" }
}

/// The instrument cache of both markets: loaded from the Redis hashes, refreshed from
/// exchangeInfo on `instruments.sync`. Readers take an immutable snapshot
/// (``precisions``), so the data path never waits for a reload.
public final class InstrumentCache: Sendable {
    private let redis: RedisConnection
    private let keys: BridgeKeys
    private let endpoints: [BinanceMarket: BinanceEndpoint]
    private let events: BridgeEvents?
    private let logger: Logger
    private let state = Mutex<(instruments: [BinanceMarket: [String: Instrument]], precisions: InstrumentPrecisions)>(([:], InstrumentPrecisions()))

    public init(redis: RedisConnection, keys: BridgeKeys, endpoints: [BinanceMarket: BinanceEndpoint], events: BridgeEvents?, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.endpoints = endpoints
        self.events = events
        self.logger = logger
    }

    /// The precisions of every cached instrument.
    public var precisions: InstrumentPrecisions { state.withLock { $0.precisions } }

    /// Number of instruments of `market`.
    public func count(_ market: BinanceMarket) -> Int { state.withLock { $0.instruments[market]?.count ?? 0 } }

    /// Whether `stream`'s symbol (or pair) is known; all-market and asset streams always are.
    public func knows(_ stream: BinanceStreamName) -> Bool {
        guard let symbol = stream.contractSymbol else { return true }
        return state.withLock { state in
            guard let instruments = state.instruments[stream.market] else { return false }
            switch stream.type {
            case .assetIndex: return true  // multi-assets indexes are not instruments
            case .continuousKline, .indexPrice, .indexPriceKline:
                return instruments.values.contains { $0.pair == symbol }
            default:
                // COIN-M `<pair>@markPrice` names a pair too.
                return instruments[symbol] != nil || instruments.values.contains { $0.pair == symbol }
            }
        }
    }

    /// Re-reads `market`'s hash; malformed entries are skipped with an event. Returns the
    /// number of instruments loaded.
    @discardableResult
    public func reload(_ market: BinanceMarket) async throws(RedisClientError) -> Int {
        let reply = try await redis.send("HGETALL", keys.instruments(market))
        let items = reply.array ?? []
        var loaded: [String: Instrument] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            let field = items[index].string ?? ""
            switch Instrument.parse(field: field, value: items[index + 1].bytes ?? []) {
            case .success(let instrument): loaded[instrument.symbol] = instrument
            case .failure(let error):
                logger.warning("skipping a malformed instrument", metadata: ["bridge.market": "\(market.rawValue)", "bridge.error": "\(error)"])
                events?.publish(type: "error", market: market, ["code": "bad_instrument", "symbol": JSONValue(field), "message": JSONValue(error.reason)])
            }
        }
        state.withLock { state in
            state.instruments[market] = loaded
            state.precisions.set(loaded.mapValues(\.precision), for: market)
        }
        return loaded.count
    }

    /// Fetches exchangeInfo, rewrites the hash (atomically: `MULTI` … `EXEC`) and reloads.
    @discardableResult
    public func sync(_ market: BinanceMarket) async throws -> Int {
        let instruments = try await fetchExchangeInfo(market)
        var batch = RedisCommandBatch(reservingCapacity: 64 << 10)
        batch.append(["MULTI"])
        batch.append(["DEL", keys.instruments(market)])
        if !instruments.isEmpty {
            batch.append(["HSET", keys.instruments(market)] + instruments.flatMap { [$0.symbol, $0.json.text] })
        }
        batch.append(["EXEC"])
        let replies = try await redis.pipeline(batch)
        if let failure = replies.compactMap(\.serverError).first { throw failure }
        return try await reload(market)
    }

    // MARK: exchangeInfo

    /// `GET /fapi/v1/exchangeInfo` (or `/dapi/v1/…`) parsed into instruments.
    func fetchExchangeInfo(_ market: BinanceMarket) async throws -> [Instrument] {
        guard let endpoint = endpoints[market] else { throw InstrumentSyncError(message: "no endpoint for \(market.rawValue)") }
        var request = HTTPClientRequest(url: endpoint.restURL("exchangeInfo"))
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 32 << 20)
        guard response.status == .ok else {
            let limited = response.status.code == 429 || response.status.code == 418
            // Binance's rule for both: stop for Retry-After (a 418 is an IP ban).
            let retryAfter = limited ? Duration.seconds(DepthSnapshotFetcher.retryAfterSeconds(response)) : nil
            throw InstrumentSyncError(message: "exchangeInfo answered HTTP \(response.status.code): \(String(buffer: body).prefix(200))", retryAfter: retryAfter)
        }
        guard let root = JSONValue.parse(Array(buffer: body)), let symbols = root["symbols"]?.array else {
            throw InstrumentSyncError(message: "exchangeInfo is not the expected JSON")
        }
        return symbols.compactMap { Self.instrument(fromExchangeInfo: $0, market: market) }
    }

    static func instrument(fromExchangeInfo value: JSONValue, market: BinanceMarket) -> Instrument? {
        guard let symbol = value["symbol"]?.string else { return nil }
        let filters = value["filters"]?.array ?? []
        func filter(_ type: String, _ key: String) -> String? {
            filters.first { $0["filterType"]?.string == type }?[key]?.string
        }
        guard let tick = filter("PRICE_FILTER", "tickSize"), let step = filter("LOT_SIZE", "stepSize") else { return nil }
        return Instrument(
            symbol: symbol,
            pair: value["pair"]?.string ?? symbol,
            contractType: value["contractType"]?.string ?? "",
            status: value["status"]?.string ?? value["contractStatus"]?.string ?? "",
            baseAsset: value["baseAsset"]?.string ?? "",
            quoteAsset: value["quoteAsset"]?.string ?? "",
            marginAsset: value["marginAsset"]?.string ?? "",
            pricePrecision: value["pricePrecision"]?.integer.map(Int.init) ?? DecimalText.decimals(of: tick) ?? 0,
            quantityPrecision: value["quantityPrecision"]?.integer.map(Int.init) ?? DecimalText.decimals(of: step) ?? 0,
            tickSize: tick,
            stepSize: step,
            contractSize: market == .coinm ? value["contractSize"]?.integer : nil
        )
    }
}

/// exchangeInfo could not be fetched or read.
public struct InstrumentSyncError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// For `429` and `418`: how long Binance asked to wait (`Retry-After`, else 60 s / 120 s).
    public var retryAfter: Duration?
    public var description: String { message }

    public init(message: String, retryAfter: Duration? = nil) {
        self.message = message
        self.retryAfter = retryAfter
    }
}

import BridgeCore
import Foundation
import NIOCore
import NIOHTTP1

/// Binance's market-data REST endpoints for one market (`/fapi/v1/…` or `/dapi/v1/…`), with
/// request weights and Binance's error bodies (protocol §5, §6).
final class SimRESTHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exchange: SimExchange
    private let market: BinanceMarket
    private var head: HTTPRequestHead?
    /// Set when this connection's WebSocket handshake exceeded the attempt limit: the upgrade
    /// request reaches this handler instead and is answered `429`, then the socket closes.
    var rejectHandshake = false

    init(exchange: SimExchange, market: BinanceMarket) {
        self.exchange = exchange
        self.market = market
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            var (status, headers, body) = respond(to: head)
            if rejectHandshake {
                (status, headers, body) = Self.error(.tooManyRequests, -1003, "Too many connection attempts; retry later.", headers: ["Retry-After": "60", "Connection": "close"])
            }
            let stalledFor = exchange.restStallUntil - WallClock.milliseconds()
            if stalledFor > 0, !rejectHandshake {
                // A hung API: the answer leaves when the stall ends (or never, if the client
                // gave up and closed first).
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                let (status, headers, body) = (status, headers, body)
                context.eventLoop.scheduleTask(in: .milliseconds(stalledFor)) {
                    let context = bound.value
                    guard context.channel.isActive else { return }
                    _ = Self.writeJSONResponse(context: context, version: head.version, status: status, headers: headers, body: body)
                }
                return
            }
            let written = Self.writeJSONResponse(context: context, version: head.version, status: status, headers: headers, body: body)
            if rejectHandshake { written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
        }
    }

    /// Writes a complete JSON response (head, body, end); the admin API answers the same way.
    static func writeJSONResponse(context: ChannelHandlerContext, version: HTTPVersion, status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: String) -> EventLoopFuture<Void> {
        var responseHead = HTTPResponseHead(version: version, status: status, headers: headers)
        responseHead.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        responseHead.headers.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        return context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
    }

    private static func error(_ status: HTTPResponseStatus, _ code: Int, _ message: String, headers: HTTPHeaders = [:]) -> (HTTPResponseStatus, HTTPHeaders, String) {
        (status, headers, "{\"code\":\(code),\"msg\":\"\(message)\"}")
    }

    /// Builds the response for one request.
    func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, HTTPHeaders, String) {
        let prefix = market.restPathPrefix + "/"
        let (path, query) = Self.splitQuery(head.uri)
        guard head.method == .GET, path.hasPrefix(prefix) else {
            return Self.error(.notFound, -1000, "Unknown endpoint.")
        }
        let endpoint = String(path.dropFirst(prefix.count))
        let weight: Int
        switch endpoint {
        case "ping", "time": weight = 1
        case "exchangeInfo": weight = 1
        case "depth":
            switch Int(query["limit"] ?? "500") {
            case 5?, 10?, 20?, 50?: weight = 2
            case 100?: weight = 5
            case 500?: weight = 10
            case 1000?: weight = 20
            default:
                return Self.error(.badRequest, -1100, "Illegal characters found in parameter 'limit'; legal range is '5, 10, 20, 50, 100, 500, 1000'.")
            }
        default:
            return Self.error(.notFound, -1000, "Unknown endpoint.")
        }
        let now = WallClock.milliseconds()
        var headers = HTTPHeaders()
        if let forced = exchange.takeForcedRESTStatus() {
            headers.add(name: "Retry-After", value: String(forced.retryAfter))
            return forced.status == 418
                ? Self.error(.imATeapot, -1003, "Way too many requests; IP banned (injected). Please use WebSocket Streams for live updates to avoid bans.", headers: headers)
                : Self.error(.tooManyRequests, -1003, "Too many requests (injected). Please use WebSocket Streams for live updates to avoid polling the API.", headers: headers)
        }
        switch exchange.charge(weight: weight, now: now) {
        case .allowed(let used):
            headers.add(name: "X-MBX-USED-WEIGHT-1M", value: String(used))
        case .limited(let retryAfter, let used):
            headers.add(name: "Retry-After", value: String(retryAfter))
            headers.add(name: "X-MBX-USED-WEIGHT-1M", value: String(used))
            return Self.error(.tooManyRequests, -1003, "Too many requests; current limit is \(exchange.configuration.restWeightPerMinute) request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.", headers: headers)
        case .banned(let until):
            headers.add(name: "Retry-After", value: String(max(1, (until - now + 999) / 1000)))
            return Self.error(.imATeapot, -1003, "Way too many requests; IP banned until \(until). Please use WebSocket Streams for live updates to avoid bans.", headers: headers)
        }
        switch endpoint {
        case "ping":
            return (.ok, headers, "{}")
        case "time":
            return (.ok, headers, "{\"serverTime\":\(now)}")
        case "exchangeInfo":
            return (.ok, headers, exchangeInfo(now: now))
        default:
            guard let symbol = query["symbol"], !symbol.isEmpty else {
                return Self.error(.badRequest, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.", headers: headers)
            }
            let limit = Int(query["limit"] ?? "500")!
            guard let snapshot = exchange.feeds[market]!.snapshot(symbol: symbol, limit: limit), snapshot.instrument.symbol == symbol else {
                return Self.error(.badRequest, -1121, "Invalid symbol.", headers: headers)
            }
            var json = JSONWriter(capacity: 64 + limit * 48)
            json.beginObject()
            json.int("lastUpdateId", snapshot.lastUpdateId)
            json.int("E", now)
            json.int("T", now)
            if market == .coinm {
                json.string("symbol", snapshot.instrument.symbol)
                json.string("pair", snapshot.instrument.pair)
            }
            json.levels("bids", snapshot.bids, snapshot.instrument)
            json.levels("asks", snapshot.asks, snapshot.instrument)
            json.endObject()
            return (.ok, headers, json.text)
        }
    }

    private func exchangeInfo(now: Int64) -> String {
        var json = JSONWriter(capacity: 4096)
        json.beginObject()
        json.string("timezone", "UTC")
        json.int("serverTime", now)
        json.beginArray("rateLimits")
        json.beginObject()
        json.string("rateLimitType", "REQUEST_WEIGHT")
        json.string("interval", "MINUTE")
        json.int("intervalNum", 1)
        json.int("limit", Int64(exchange.configuration.restWeightPerMinute))
        json.endObject()
        json.endArray()
        json.beginArray("assets")
        json.endArray()
        json.beginArray("symbols")
        for model in exchange.feeds[market]!.models {
            let i = model.instrument
            json.beginObject()
            json.string("symbol", i.symbol)
            json.string("pair", i.pair)
            json.string("contractType", i.contractType)
            json.int("deliveryDate", i.deliveryDate)
            json.int("onboardDate", i.onboardDate)
            // COIN-M calls the status field contractStatus (protocol §6).
            json.string(market == .coinm ? "contractStatus" : "status", "TRADING")
            json.string("baseAsset", i.baseAsset)
            json.string("quoteAsset", i.quoteAsset)
            json.string("marginAsset", i.marginAsset)
            json.int("pricePrecision", Int64(i.pricePrecision))
            json.int("quantityPrecision", Int64(i.quantityPrecision))
            json.int("baseAssetPrecision", 8)
            json.int("quotePrecision", 8)
            if let contractSize = i.contractSize { json.int("contractSize", Int64(contractSize)) }
            json.beginArray("filters")
            json.beginObject()
            json.string("filterType", "PRICE_FILTER")
            json.string("minPrice", i.tickSizeText)
            json.string("maxPrice", "1000000")
            json.string("tickSize", i.tickSizeText)
            json.endObject()
            json.beginObject()
            json.string("filterType", "LOT_SIZE")
            json.string("minQty", i.stepSizeText)
            json.string("maxQty", "100000")
            json.string("stepSize", i.stepSizeText)
            json.endObject()
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.text
    }

    /// `/path?a=1&b=2` → ("/path", ["a": "1", "b": "2"]).
    static func splitQuery(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let value = parts.count > 1 ? String(parts[1]) : ""
            query[String(parts[0])] = value.removingPercentEncoding ?? value
        }
        return (String(uri[..<mark]), query)
    }
}

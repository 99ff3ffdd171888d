import BridgeCore
import NIOCore
import NIOHTTP1

/// The admin HTTP API (`--admin-port`): status and fault injection, one route per
/// ``SimFault``, parameters in the query string, JSON replies.
///
/// ```
/// GET  /status
/// POST /faults/drop               [market=usdm|coinm] [connection=ID]
/// POST /faults/expire             [market] [connection]
/// POST /faults/stall-connection   [market] [connection] [seconds=S]
/// POST /faults/ignore-pings       [market] [connection] [seconds=S]
/// POST /faults/slow-writes        [market] [connection] bytes_per_second=N
/// POST /faults/bad-frame          [market] [connection] kind=malformed|truncated|oversized [bytes=N]
/// POST /faults/stall-stream       market stream=NAME [connection] [seconds=S]
/// POST /faults/sequence-gap       market symbol=BTCUSDT
/// POST /faults/refuse-connections seconds=S
/// POST /faults/rest-limit         status=429|418 [count=N] [retry_after=S]
/// POST /faults/stall-rest         seconds=S
/// POST /faults/reject-subscriptions [market] [count=N] [code=C]
/// POST /faults/message-limit      per_second=N seconds=S
/// POST /faults/clear
/// ```
///
/// A fault answers `{"ok":true,"affected":N,"details":[…]}`; a bad request `400` with
/// `{"ok":false,"error":"…"}`. Everything runs on the exchange's event loop.
final class SimAdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exchange: SimExchange
    private let ports: SimulatorPorts
    private var head: HTTPRequestHead?

    init(exchange: SimExchange, ports: SimulatorPorts) {
        self.exchange = exchange
        self.ports = ports
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, body) = respond(to: head)
            _ = SimRESTHandler.writeJSONResponse(context: context, version: head.version, status: status, body: body)
        }
    }

    private static func failure(_ status: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, String) {
        var json = JSONWriter()
        json.beginObject()
        json.bool("ok", false)
        json.string("error", escaping: message)
        json.endObject()
        return (status, json.text)
    }

    func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, String) {
        let (path, query) = SimRESTHandler.splitQuery(head.uri)
        if path == "/status" {
            guard head.method == .GET else { return Self.failure(.methodNotAllowed, "use GET /status") }
            return (.ok, statusJSON())
        }
        guard path.hasPrefix("/faults/") else { return Self.failure(.notFound, "unknown path \(path); see GET /status and POST /faults/…") }
        guard head.method == .POST else { return Self.failure(.methodNotAllowed, "faults are injected with POST") }
        do {
            let fault = try Self.fault(named: String(path.dropFirst("/faults/".count)), query)
            let outcome = try exchange.apply(fault)
            var json = JSONWriter()
            json.beginObject()
            json.bool("ok", true)
            json.int("affected", Int64(outcome.affected))
            json.beginArray("details")
            for detail in outcome.details { json.stringElement(escaping: detail) }
            json.endArray()
            json.endObject()
            return (.ok, json.text)
        } catch {
            return Self.failure(.badRequest, error.message)
        }
    }

    // MARK: Parsing

    /// The fault a route and its query describe.
    static func fault(named name: String, _ query: [String: String]) throws(SimFaultError) -> SimFault {
        func market(required: Bool = false) throws(SimFaultError) -> BinanceMarket? {
            guard let raw = query["market"] else {
                if required { throw SimFaultError("market is required (usdm or coinm)") }
                return nil
            }
            guard let market = BinanceMarket(rawValue: raw) else { throw SimFaultError("unknown market \(raw); expected usdm or coinm") }
            return market
        }
        func int(_ key: String) throws(SimFaultError) -> Int? {
            guard let raw = query[key] else { return nil }
            guard let value = Int(raw) else { throw SimFaultError("\(key) must be an integer, got \(raw)") }
            return value
        }
        func seconds(required: Bool = false) throws(SimFaultError) -> Double? {
            guard let raw = query["seconds"] else {
                if required { throw SimFaultError("seconds is required") }
                return nil
            }
            guard let value = Double(raw) else { throw SimFaultError("seconds must be a number, got \(raw)") }
            return value
        }
        func text(_ key: String) throws(SimFaultError) -> String {
            guard let value = query[key], !value.isEmpty else { throw SimFaultError("\(key) is required") }
            return value
        }
        let target = SimConnectionTarget(market: try market(), connection: try int("connection"))
        switch name {
        case "drop": return .drop(target)
        case "expire": return .expire(target)
        case "stall-connection": return .stallConnection(target, seconds: try seconds())
        case "ignore-pings": return .ignorePings(target, seconds: try seconds())
        case "slow-writes":
            guard let rate = try int("bytes_per_second") else { throw SimFaultError("bytes_per_second is required") }
            return .slowWrites(target, bytesPerSecond: rate)
        case "bad-frame":
            let raw = try text("kind")
            guard let kind = SimBadFrameKind(rawValue: raw) else {
                throw SimFaultError("unknown kind \(raw); expected malformed, truncated or oversized")
            }
            return .badFrame(target, kind, bytes: try int("bytes") ?? (2 << 20))
        case "stall-stream":
            return .stallStream(market: try market(required: true)!, stream: try text("stream"), connection: try int("connection"), seconds: try seconds())
        case "sequence-gap":
            return .sequenceGap(market: try market(required: true)!, symbol: try text("symbol"))
        case "refuse-connections":
            return .refuseConnections(seconds: try seconds(required: true)!)
        case "rest-limit":
            guard let status = try int("status") else { throw SimFaultError("status is required (429 or 418)") }
            return .restLimit(status: status, count: try int("count") ?? 1, retryAfter: try int("retry_after") ?? 1)
        case "stall-rest":
            return .stallREST(seconds: try seconds(required: true)!)
        case "reject-subscriptions":
            return .rejectSubscriptions(market: try market(), count: try int("count") ?? 1, code: try int("code") ?? -1)
        case "message-limit":
            guard let perSecond = try int("per_second") else { throw SimFaultError("per_second is required") }
            return .messageLimit(perSecond: perSecond, seconds: try seconds(required: true)!)
        case "clear":
            return .clear
        default:
            throw SimFaultError("unknown fault \(name)")
        }
    }

    // MARK: Status

    private func statusJSON() -> String {
        let status = exchange.status()
        var json = JSONWriter(capacity: 512 + status.connections.count * 256)
        json.beginObject()
        json.beginObject("ports")
        json.int("usdm", Int64(ports.usdm))
        json.int("coinm", Int64(ports.coinm))
        json.endObject()
        json.int("messages_sent", Int64(status.messagesSent))
        json.int("events_withheld", Int64(status.eventsWithheld))
        json.int("connections_refused", Int64(status.connectionsRefused))
        json.bool("refusing_connections", status.refusingConnections)
        json.int("replayed_records", Int64(status.replayedRecords))
        json.int("replay_malformed_lines", Int64(status.replayMalformedLines))
        json.beginArray("stalled_streams")
        for stream in status.stalledStreams { json.stringElement(escaping: stream) }
        json.endArray()
        json.beginArray("connections")
        for connection in status.connections {
            json.beginObject()
            json.int("id", Int64(connection.id))
            json.string("market", connection.market.rawValue)
            json.string("route", connection.route.rawValue)
            json.bool("combined", connection.combined)
            json.int("age_ms", connection.ageMilliseconds)
            json.int("messages_sent", Int64(connection.messagesSent))
            json.int("pings_sent", Int64(connection.pingsSent))
            json.int("pongs_answering", Int64(connection.pongsAnswering))
            json.int("pongs_unsolicited", Int64(connection.pongsUnsolicited))
            json.beginArray("streams")
            for stream in connection.streams { json.stringElement(escaping: stream) }
            json.endArray()
            json.beginArray("faults")
            for fault in connection.faults { json.stringElement(escaping: fault) }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.text
    }
}

import BridgeCore

/// What a WebSocket URL asks for (protocol §1): route, framing and URL-embedded streams.
///
/// USD-M: `[/public|/market]/ws[/<stream>[/<stream>…]]` (raw) or `[/public|/market]/stream[?streams=a/b]`
/// (combined). COIN-M has no routes: `/ws…` and `/stream…` only.
struct SimWebSocketTarget: Equatable {
    var route: SimRoute
    var combined: Bool
    var streams: [String]

    static func parse(uri: String, market: BinanceMarket) -> SimWebSocketTarget? {
        let (path, query) = SimRESTHandler.splitQuery(uri)
        var rest = Substring(path)
        var route = SimRoute.unrouted
        for candidate in [SimRoute.public, .market] where rest.hasPrefix("/" + candidate.rawValue + "/") {
            guard market == .usdm else { return nil }
            route = candidate
            rest = rest.dropFirst(candidate.rawValue.count + 1)
        }
        var streams: [String] = []
        let combined: Bool
        if rest == "/ws" || rest.hasPrefix("/ws/") {
            combined = false
            streams = rest.dropFirst(3).split(separator: "/").map(String.init)
        } else if rest == "/stream" {
            combined = true
            streams = (query["streams"] ?? "").split(separator: "/").map(String.init)
        } else {
            return nil
        }
        guard streams.allSatisfy(SimStream.isWellFormed) else { return nil }
        return SimWebSocketTarget(route: route, combined: combined, streams: streams)
    }
}

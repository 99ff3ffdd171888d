import BridgeCore
import NIOSSL

/// How one WebSocket connection to Binance is made.
public struct BinanceConnectionSettings: Sendable, CustomStringConvertible {
    /// `wss://fstream.binance.com/market/stream` (or `ws://` for the simulator).
    public var url: String
    /// Sent as `X-MBX-APIKEY` when set; never printed (``description`` redacts it).
    public var apiKey: APIKey?
    /// Upper bound on TCP + TLS + HTTP upgrade (the seed: 5 s).
    public var connectTimeout: Duration = .seconds(5)
    /// Largest message accepted. Binance's `!…@arr` frames and depth snapshots exceed the
    /// client's 16 KiB default (toolchain notes); a larger one closes the connection (1009).
    public var maxMessageSize = 16 << 20
    /// TLS for `wss://`: the system trust store by default; tests trust the simulator's
    /// certificate here.
    public var tls: TLSConfiguration = .makeClientConfiguration()
    /// SNI and certificate name when `url` names an IP (an IP cannot be SNI): e.g. `localhost`.
    public var serverName: String?
    /// Client ping period; a ping still unanswered at the next one closes the connection
    /// (a peer that stopped answering). Nil: no client pings.
    public var autoPing: Duration?
    /// No frame at all (data, reply, ping or pong) for this long closes the connection as
    /// ``BinanceConnectionEnd/unresponsive(reason:)``. Nil: no such rule. Checked by the NIO
    /// transport on its event loop, at a quarter of this period (so it fires between 1× and
    /// 1.25× of it); the swift-websocket transport relies on `autoPing` alone.
    public var idleTimeout: Duration?
    /// Which WebSocket implementation carries the connection.
    public var transport: BinanceTransport = .nio

    public init(url: String, apiKey: APIKey? = nil) {
        self.url = url
        self.apiKey = apiKey
    }

    public var description: String {
        "BinanceConnectionSettings(url: \(url), apiKey: \(apiKey == nil ? "none" : "<redacted>"), connectTimeout: \(connectTimeout))"
    }
}

/// How a ``RedisConnection`` or ``RedisSubscriber`` reaches and talks to its server.
public struct RedisConnectionConfiguration: Sendable, Equatable {
    /// Where the server is and how to authenticate.
    public var url: RedisURL
    /// Upper bound on establishing the connection (TCP/Unix connect, then the handshake).
    public var connectTimeout: Duration
    /// Upper bound on a command batch making no progress (no byte written or read). Measured
    /// as inactivity, not total time, so a 100,000-command pipeline is not cut short while it
    /// is flowing.
    public var commandTimeout: Duration
    /// Sent with `CLIENT SETNAME` so operators can tell connections apart in `CLIENT LIST`.
    public var clientName: String?
    /// TCP keepalive (hiredis 0.14 uses a fixed 15 s interval) so dead peers are detected on
    /// idle connections.
    public var tcpKeepAlive: Bool

    public init(
        url: RedisURL,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5),
        clientName: String? = nil,
        tcpKeepAlive: Bool = true
    ) {
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.clientName = clientName
        self.tcpKeepAlive = tcpKeepAlive
    }
}

// MARK: The settings table

extension BridgeConfiguration {
    /// Every setting, once, in the order `check-config` prints them: the single source for
    /// the loader (which keys, flags and variables exist), `check-config` and the docs.
    public static let settings: [SettingDescriptor] = baseSettings + BinanceStreamKind.allCases.map {
        SettingDescriptor("maxlen.\($0.settingName)", "redis.maxlen", "MAXLEN ~ of \($0.rawValue) streams (overrides redis.maxlen)")
    }

    private static let baseSettings: [SettingDescriptor] = [
        .init("redis.url", "redis://127.0.0.1:6379/0", "Redis to write to: redis://[user:password@]host:port/db or unix:///path?db=N"),
        .init("redis.prefix", "binance", "prefix of every key, channel and stream the bridge uses"),
        .init("redis.maxlen", "100000", "MAXLEN ~ bound of each data stream"),
        .init("redis.connect_timeout_ms", "5000", "Redis connect + handshake timeout, milliseconds"),
        .init("redis.command_timeout_ms", "5000", "Redis command timeout (no progress), milliseconds"),
        .init("environment", "mainnet", "mainnet or testnet: selects the default Binance URLs"),
        .init("usdm.ws_url", "wss://fstream.binance.com", "USD-M WebSocket base URL (routes are appended); default follows environment"),
        .init("usdm.rest_url", "https://fapi.binance.com", "USD-M REST base URL; default follows environment"),
        .init("coinm.ws_url", "wss://dstream.binance.com", "COIN-M WebSocket base URL; default follows environment"),
        .init("coinm.rest_url", "https://dapi.binance.com", "COIN-M REST base URL; default follows environment"),
        .init("api_key", "none", "Binance API key (optional; never logged)", isSecret: true),
        .init("publisher.buffer_bytes", "67108864", "bound of the buffer of entries waiting for Redis, bytes (then the oldest are dropped behind an overflow gap)"),
        .init("publisher.batch_size", "512", "most XADDs per pipelined batch"),
        .init("publisher.batch_window_us", "0", "longest an entry waits for its batch to fill, microseconds (0: write what is there; batches fill while the previous one is in flight)"),
        .init("http.port", "9464", "port of /metrics, /healthz and /readyz (0: any free port)"),
        .init("http.host", "0.0.0.0", "address /metrics, /healthz and /readyz listen on (127.0.0.1: this machine only)"),
        .init("instruments.strict", "false", "reject streams whose symbol is not in the instrument cache", isBoolean: true),
        .init("instruments.sync_on_start", "true", "fetch exchangeInfo at start when the instrument hash is empty", isBoolean: true),
        .init("books.enabled", "false", "keep local order books for diff-depth streams", isBoolean: true),
        .init("books.symbols", "", "comma-separated symbols (BTCUSDT,ETHUSDT) whose books are kept even when books.enabled is false"),
        .init("books.exclude", "", "comma-separated symbols whose books are never kept"),
        .init("books.depth_limit", "1000", "levels per side of REST depth snapshots: 5, 10, 20, 50, 100, 500 or 1000"),
        .init("books.rest_weight_per_minute", "1200", "REST request weight per clock minute the snapshots may use (Binance allows 2400 per IP)"),
        .init("books.buffer_events", "2000", "diff events held per stream while its snapshot is awaited (then the oldest are dropped behind an overflow gap)"),
        .init("books.snapshot_every_updates", "0", "also write a depth_snapshot from the local book every N updates (0: never)"),
        .init("books.snapshot_every_s", "0", "also write a depth_snapshot from the local book at least every N seconds (0: never)"),
        .init("books.snapshot_timeout_ms", "10000", "longest wait for one REST depth snapshot before it is retried, milliseconds"),
        .init("pool.max_connections", "20", "WebSocket connections per market (Binance: at most 20 per IP is the seed's rule)"),
        .init("pool.max_streams_per_connection", "200", "streams per connection (1-1024; Binance drops a socket past 1024)"),
        .init("pool.requests_per_second", "5", "SUBSCRIBE/UNSUBSCRIBE and ping messages per second per connection (1-9; Binance closes above 10)"),
        .init("pool.connection_lifetime_s", "86400", "how long Binance keeps a connection, seconds (24 h)"),
        .init("pool.rotation_margin_s", "3600", "how long before the lifetime a replacement connection is opened, seconds"),
        .init("pool.rotation_overlap_s", "60", "longest overlap of a rotation before its replacement is abandoned and retried, seconds"),
        .init("pool.ping_interval_s", "180", "client ping period, seconds (an unanswered ping closes and reconnects)"),
        .init("pool.idle_timeout_s", "210", "no frame at all (data, ping or pong) for this long closes and reconnects, seconds; above ping_interval_s"),
        .init("log.level", "info", "trace, debug, info, notice, warning, error or critical"),
    ]
}

// MARK: Redacted rendering

extension BridgeConfiguration {
    /// The effective value of `key` as text, as it would be written in the YAML file; the API
    /// key shows as `<redacted>` (or `<none>`), an unknown key as `<unknown key>`.
    public func renderedValue(of key: String) -> String {
        switch key {
        case "redis.url": redis.url
        case "redis.prefix": redis.prefix
        case "redis.maxlen": String(redis.maxlen)
        case "redis.connect_timeout_ms": String(redis.connectTimeout.wholeMilliseconds)
        case "redis.command_timeout_ms": String(redis.commandTimeout.wholeMilliseconds)
        case "environment": environment.rawValue
        case "usdm.ws_url": usdm.webSocketURL
        case "usdm.rest_url": usdm.restURL
        case "coinm.ws_url": coinm.webSocketURL
        case "coinm.rest_url": coinm.restURL
        case "api_key": apiKey == nil ? "<none>" : "<redacted>"
        case "http.port": String(http.port)
        case "http.host": http.host
        case "instruments.strict": String(instruments.strict)
        case "instruments.sync_on_start": String(instruments.syncOnStart)
        case "books.enabled": String(books.enabled)
        case "books.symbols": books.symbols.sorted().joined(separator: ",")
        case "books.exclude": books.exclude.sorted().joined(separator: ",")
        case "books.depth_limit": String(books.depthLimit)
        case "books.rest_weight_per_minute": String(books.restWeightPerMinute)
        case "books.buffer_events": String(books.bufferEvents)
        case "books.snapshot_every_updates": String(books.snapshotEveryUpdates)
        case "books.snapshot_every_s": String(books.snapshotInterval.components.seconds)
        case "books.snapshot_timeout_ms": String(books.snapshotTimeout.wholeMilliseconds)
        case "pool.max_connections": String(pool.maxConnections)
        case "pool.max_streams_per_connection": String(pool.maxStreamsPerConnection)
        case "pool.requests_per_second": String(pool.requestsPerSecond)
        case "pool.connection_lifetime_s": String(pool.connectionLifetime.components.seconds)
        case "pool.rotation_margin_s": String(pool.rotationMargin.components.seconds)
        case "pool.rotation_overlap_s": String(pool.rotationOverlapTimeout.components.seconds)
        case "pool.ping_interval_s": String(pool.pingInterval.components.seconds)
        case "pool.idle_timeout_s": String(pool.idleTimeout.components.seconds)
        case "log.level": log.level.rawValue
        case "publisher.buffer_bytes": String(publisher.bufferBytes)
        case "publisher.batch_size": String(publisher.batchSize)
        case "publisher.batch_window_us": String(publisher.batchWindow.components.seconds * 1_000_000 + publisher.batchWindow.components.attoseconds / 1_000_000_000_000)
        default:
            if key.hasPrefix("maxlen."), let kind = BinanceStreamKind.allCases.first(where: { "maxlen." + $0.settingName == key }) {
                String(maxlenByKind[kind] ?? redis.maxlen)
            } else {
                "<unknown key>"
            }
        }
    }

    /// The effective settings as (key, value) pairs in table order, the API key redacted and
    /// a Redis password masked: safe for start-up logs and metadata.
    public var redactedSettings: [(key: String, value: String)] {
        Self.settings.map { setting in
            let value = renderedValue(of: setting.key)
            return (setting.key, setting.key == "redis.url" ? Self.maskingPassword(in: value) : value)
        }
    }

    /// One `key = value` line per setting, as ``redactedSettings``: what `check-config` prints.
    public var redactedSettingsDescription: String {
        redactedSettings.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
    }

    /// `redis://user:secret@host` → `redis://user:***@host` (the core cannot use `RedisURL`).
    static func maskingPassword(in url: String) -> String {
        guard url.hasPrefix("redis://"), let at = url.lastIndex(of: "@") else { return url }
        let authority = url[url.index(url.startIndex, offsetBy: 8)..<at]
        guard let colon = authority.firstIndex(of: ":") else { return url }
        return "redis://" + authority[..<colon] + ":***" + url[at...]
    }
}

extension Duration {
    /// Whole milliseconds, rounded down (the `_ms` settings).
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Whole microseconds, rounded down (the `_us` fields and the pool's clocks).
    public var wholeMicroseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }
}

extension BinanceStreamKind {
    /// The kind in snake case, as configuration keys spell it (`aggTrade` → `agg_trade`).
    public var settingName: String {
        var name = ""
        for character in rawValue {
            if character.isUppercase {
                name.append("_")
                name.append(contentsOf: character.lowercased())
            } else {
                name.append(character)
            }
        }
        return name
    }
}

import Testing
@testable import BridgeCore

@Suite("BridgeConfiguration")
struct ConfigurationTests {
    /// Contract section 6, plus the extensions this bridge adds.
    private static let expectedKeys: Set<String> = Set([
        "redis.url", "redis.prefix", "redis.maxlen", "usdm.ws_url", "usdm.rest_url", "coinm.ws_url", "coinm.rest_url",
        "environment", "api_key", "http.port", "http.host", "instruments.strict", "instruments.sync_on_start", "books.enabled",
        "books.symbols", "books.exclude", "books.depth_limit", "books.rest_weight_per_minute", "books.buffer_events",
        "books.snapshot_every_updates", "books.snapshot_every_s", "books.snapshot_timeout_ms",
        "redis.connect_timeout_ms", "redis.command_timeout_ms", "log.level",
        "publisher.buffer_bytes", "publisher.batch_size", "publisher.batch_window_us",
        "pool.max_connections", "pool.max_streams_per_connection", "pool.requests_per_second", "pool.connection_lifetime_s",
        "pool.rotation_margin_s", "pool.rotation_overlap_s", "pool.ping_interval_s", "pool.idle_timeout_s",
    ]).union(BinanceStreamKind.allCases.map { "maxlen." + $0.settingName })

    // MARK: Defaults

    @Test func defaultsMatchTheContract() {
        let configuration = BridgeConfiguration()
        #expect(configuration.redis.url == "redis://127.0.0.1:6379/0")
        #expect(configuration.redis.prefix == "binance")
        #expect(configuration.redis.maxlen == 100_000)
        #expect(configuration.redis.connectTimeout == .seconds(5))
        #expect(configuration.redis.commandTimeout == .milliseconds(5000))
        #expect(configuration.usdm == .init(webSocketURL: "wss://fstream.binance.com", restURL: "https://fapi.binance.com"))
        #expect(configuration.coinm == .init(webSocketURL: "wss://dstream.binance.com", restURL: "https://dapi.binance.com"))
        #expect(configuration.environment == .mainnet)
        #expect(configuration.apiKey == nil)
        #expect(configuration.http.port == 9464)
        #expect(!configuration.instruments.strict)
        #expect(configuration.instruments.syncOnStart)
        #expect(!configuration.books.enabled)
        #expect(configuration.log.level == .info)
    }

    @Test func documentedDefaultsAreTheRealDefaults() {
        let configuration = BridgeConfiguration()
        for setting in BridgeConfiguration.settings where !setting.isSecret {
            // `maxlen.*` default to whatever `redis.maxlen` is.
            let expected = setting.defaultValue == "redis.maxlen" ? configuration.renderedValue(of: "redis.maxlen") : setting.defaultValue
            #expect(configuration.renderedValue(of: setting.key) == expected, "\(setting.key)")
        }
        #expect(configuration.renderedValue(of: "api_key") == "<none>")
    }

    @Test func testnetEndpoints() {
        #expect(BridgeConfiguration.MarketEndpoints.standard(.usdm, .testnet)
            == .init(webSocketURL: "wss://fstream.binancefuture.com", restURL: "https://demo-fapi.binance.com"))
        #expect(BridgeConfiguration.MarketEndpoints.standard(.coinm, .testnet)
            == .init(webSocketURL: "wss://dstream.binancefuture.com", restURL: "https://testnet.binancefuture.com"))
        var configuration = BridgeConfiguration()
        configuration.coinm.restURL = "http://127.0.0.1:19002"
        #expect(configuration.endpoints(.coinm).restURL == "http://127.0.0.1:19002")
        #expect(configuration.endpoints(.usdm) == configuration.usdm)
    }

    // MARK: The settings table

    @Test func settingsTableListsEveryKeyExactlyOnce() {
        let keys = BridgeConfiguration.settings.map(\.key)
        #expect(keys.count == Set(keys).count, "duplicates in \(keys)")
        #expect(Set(keys) == Self.expectedKeys)
        #expect(BridgeConfiguration.settings.filter(\.isSecret).map(\.key) == ["api_key"])
        #expect(Set(BridgeConfiguration.settings.filter(\.isBoolean).map(\.key))
            == ["instruments.strict", "instruments.sync_on_start", "books.enabled"])
        #expect(BridgeConfiguration.settings.allSatisfy { !$0.summary.isEmpty && !$0.summary.contains("\n") })
    }

    @Test(arguments: [
        ("redis.url", "BRIDGE_REDIS_URL", "--redis-url"),
        ("redis.connect_timeout_ms", "BRIDGE_REDIS_CONNECT_TIMEOUT_MS", "--redis-connect-timeout-ms"),
        ("instruments.sync_on_start", "BRIDGE_INSTRUMENTS_SYNC_ON_START", "--instruments-sync-on-start"),
        ("api_key", "BRIDGE_API_KEY", "--api-key"),
        ("environment", "BRIDGE_ENVIRONMENT", "--environment"),
        ("usdm.ws_url", "BRIDGE_USDM_WS_URL", "--usdm-ws-url"),
    ])
    func environmentVariableAndFlagNames(key: String, variable: String, flag: String) throws {
        let setting = try #require(BridgeConfiguration.settings.first { $0.key == key })
        #expect(setting.environmentVariable == variable)
        #expect(setting.flag == flag)
    }

    @Test func everyNameFollowsTheRuleAndIsUnique() {
        let settings = BridgeConfiguration.settings
        for setting in settings {
            #expect(setting.environmentVariable.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" }, "\(setting.environmentVariable)")
            #expect(setting.flag.hasPrefix("--") && setting.flag.dropFirst(2).allSatisfy { $0.isLowercase || $0 == "-" }, "\(setting.flag)")
        }
        #expect(Set(settings.map(\.environmentVariable)).count == settings.count)
        #expect(Set(settings.map(\.flag)).count == settings.count)
    }

    // MARK: Redaction

    @Test func apiKeyNeverAppearsInAnyRendering() throws {
        let secret = "sk-live-123456"
        var configuration = BridgeConfiguration()
        configuration.apiKey = APIKey(secret)
        var dumped = ""
        dump(configuration, to: &dumped)
        var dumpedKey = ""
        dump(configuration.apiKey, to: &dumpedKey)
        let key = try #require(configuration.apiKey)
        let renderings = [
            "\(configuration)", String(describing: configuration), String(reflecting: configuration), dumped, dumpedKey,
            configuration.redactedSettingsDescription, "\(configuration.redactedSettings)",
            "\(key)", String(reflecting: key), "\(Mirror(reflecting: key).children.map { $0.value })",
        ]
        for text in renderings {
            #expect(!text.contains(secret), "\(text)")
        }
        #expect(key.description == "APIKey(<redacted>)")
        #expect(configuration.redactedSettingsDescription.contains("api_key = <redacted>"))
        #expect(key.secret == secret)
    }

    @Test func redisPasswordIsMaskedInTheRendering() {
        var configuration = BridgeConfiguration()
        configuration.redis.url = "redis://ops:hunter2@10.0.0.5:6379/0"
        #expect(configuration.redactedSettingsDescription.contains("redis.url = redis://ops:***@10.0.0.5:6379/0"))
        #expect(!configuration.redactedSettingsDescription.contains("hunter2"))
        #expect(BridgeConfiguration.maskingPassword(in: "redis://:p@ss@h:1/0") == "redis://:***@h:1/0")
        #expect(BridgeConfiguration.maskingPassword(in: "redis://h:6379/0") == "redis://h:6379/0")
        #expect(BridgeConfiguration.maskingPassword(in: "unix:///run/redis.sock") == "unix:///run/redis.sock")
    }

    @Test func renderingHasOneLinePerSettingInTableOrder() {
        var configuration = BridgeConfiguration()
        configuration.redis.commandTimeout = .milliseconds(250)
        configuration.books.enabled = true
        configuration.log.level = .debug
        let lines = configuration.redactedSettingsDescription.split(separator: "\n").map(String.init)
        #expect(lines.count == BridgeConfiguration.settings.count)
        #expect(lines.map { String($0.prefix { $0 != " " }) } == BridgeConfiguration.settings.map(\.key))
        #expect(lines.contains("redis.command_timeout_ms = 250"))
        #expect(lines.contains("books.enabled = true"))
        #expect(lines.contains("log.level = debug"))
        #expect(lines.contains("api_key = <none>"))
    }
}

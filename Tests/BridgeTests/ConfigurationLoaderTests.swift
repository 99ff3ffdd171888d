import BridgeCore
import Foundation
import Testing
@testable import Bridge

@Suite("Configuration loading: flag > environment > file > default")
struct ConfigurationLoaderTests {
    /// The repository root, found from this file's path.
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    // MARK: Helpers

    /// Writes `yaml` to `name` in a fresh temporary directory and returns its path.
    private func file(_ yaml: String, name: String = "bridge.yaml") throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func load(_ arguments: [String] = [], env: [String: String] = [:], file: String? = nil) throws(ConfigurationError) -> BridgeConfiguration {
        try BridgeConfigurationLoader.load(arguments: arguments + (file.map { ["--config", $0] } ?? []), environment: env, defaultConfigFile: nil)
    }

    /// Expects loading to fail on `key` with a one-line message containing `containing`.
    private func expectError(
        _ arguments: [String] = [], env: [String: String] = [:], file: String? = nil,
        key: String, containing: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let configuration = try load(arguments, env: env, file: file)
            Issue.record("loaded \(configuration.redactedSettingsDescription) instead of failing on \(key)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("configuration error: \(key): "), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(containing), "\(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), "one line: \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Precedence

    @Test func defaultsWithNothingGiven() throws {
        #expect(try load() == BridgeConfiguration())
        #expect(try load(env: ["PATH": "/bin", "BRIDGE_REDIS_MAXLN": "5", "REDIS_URL": "nonsense"]) == BridgeConfiguration())
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let path = try file("""
            redis:
              url: redis://file-host:6379/1
              prefix: fromfile
              maxlen: 111
            http:
              port: 9000
            books:
              enabled: true
            log:
              level: warning
            """)
        let env = ["BRIDGE_REDIS_PREFIX": "fromenv", "BRIDGE_REDIS_MAXLEN": "222", "BRIDGE_BOOKS_ENABLED": "false"]
        let configuration = try load(["--redis-maxlen", "333", "--books-enabled"], env: env, file: path)
        #expect(configuration.redis.maxlen == 333)                      // flag over env and file
        #expect(configuration.books.enabled)                            // bare flag over env and file
        #expect(configuration.redis.prefix == "fromenv")                // env over file
        #expect(configuration.redis.url == "redis://file-host:6379/1")  // file over default
        #expect(configuration.http.port == 9000)
        #expect(configuration.log.level == .warning)
        #expect(configuration.instruments == BridgeConfiguration.Instruments())  // defaults

        let withoutFlags = try load(env: env, file: path)
        #expect(withoutFlags.redis.maxlen == 222)
        #expect(!withoutFlags.books.enabled)
        let fileOnly = try load(file: path)
        #expect(fileOnly.redis.maxlen == 111 && fileOnly.redis.prefix == "fromfile" && fileOnly.books.enabled)
    }

    @Test func flagForms() throws {
        let configuration = try load([
            "--books-enabled", "--instruments-strict=true", "--redis-prefix=a:b=c", "--http-port", "1234",
            "--instruments-sync-on-start", "false", "--log-level=DEBUG", "--redis-connect-timeout-ms", "750",
        ])
        #expect(configuration.books.enabled)
        #expect(configuration.instruments.strict)
        #expect(!configuration.instruments.syncOnStart)
        #expect(configuration.redis.prefix == "a:b=c")
        #expect(configuration.http.port == 1234)
        #expect(configuration.log.level == .debug)
        #expect(configuration.redis.connectTimeout == .milliseconds(750))
        #expect(try load(["--books-enabled=false"]).books.enabled == false)
        #expect(try load(["--books-enabled", "--http-port", "1"]).books.enabled)
    }

    @Test func environmentValues() throws {
        let configuration = try load(env: [
            "BRIDGE_BOOKS_ENABLED": "YES", "BRIDGE_INSTRUMENTS_STRICT": "on", "BRIDGE_INSTRUMENTS_SYNC_ON_START": "0",
            "BRIDGE_LOG_LEVEL": "critical", "BRIDGE_API_KEY": "k-123", "BRIDGE_REDIS_COMMAND_TIMEOUT_MS": "250",
            "BRIDGE_ENVIRONMENT": "Testnet", "BRIDGE_REDIS_URL": "unix:///run/redis.sock?db=2",
        ])
        #expect(configuration.books.enabled && configuration.instruments.strict && !configuration.instruments.syncOnStart)
        #expect(configuration.log.level == .critical)
        #expect(configuration.apiKey == APIKey("k-123"))
        #expect(configuration.redis.commandTimeout == .milliseconds(250))
        #expect(configuration.environment == .testnet)
        #expect(configuration.redis.url == "unix:///run/redis.sock?db=2")
    }

    @Test func configFileChoice() throws {
        let chosen = try file("redis:\n  maxlen: 7\n")
        let other = try file("redis:\n  maxlen: 8\n")
        #expect(try BridgeConfigurationLoader.load(arguments: [], environment: ["BRIDGE_CONFIG": chosen], defaultConfigFile: nil).redis.maxlen == 7)
        #expect(try BridgeConfigurationLoader.load(arguments: ["--config=\(other)"], environment: ["BRIDGE_CONFIG": chosen]).redis.maxlen == 8)
        #expect(try BridgeConfigurationLoader.load(arguments: [], environment: [:], defaultConfigFile: other).redis.maxlen == 8)
        #expect(try BridgeConfigurationLoader.load(arguments: [], environment: ["BRIDGE_CONFIG": chosen], defaultConfigFile: other).redis.maxlen == 7)
        // A missing default file is not an error: the defaults apply.
        let missing = chosen + ".missing"
        #expect(try BridgeConfigurationLoader.load(arguments: [], environment: [:], defaultConfigFile: missing) == BridgeConfiguration())
    }

    @Test func filesWithNothingToSet() throws {
        #expect(try load(file: try file("")) == BridgeConfiguration())
        #expect(try load(file: try file("# only comments\n")) == BridgeConfiguration())
        #expect(try load(file: try file("books:\n  # enabled: true\nredis:\n")) == BridgeConfiguration())
    }

    @Test func secretsAreMarkedAndNeverEchoed() throws {
        let configuration = try load(["--api-key", "sk-flag"], env: ["BRIDGE_API_KEY": "sk-env"], file: try file("api_key: sk-file\n"))
        #expect(configuration.apiKey?.secret == "sk-flag")
        #expect(try load(file: try file("api_key: sk-file\n")).apiKey?.secret == "sk-file")
        do {
            _ = try load(["--redis-url", "redis://ops:hunter2@host:99999/0"])
            Issue.record("a bad port loaded")
        } catch {
            #expect(error.key == "redis.url")
            #expect(!error.description.contains("hunter2"), "\(error)")
        }
    }

    // MARK: Testnet

    @Test func testnetSwitchesDefaultsButNotExplicitURLs() throws {
        let testnet = try load(["--environment", "testnet"])
        #expect(testnet.usdm == .init(webSocketURL: "wss://fstream.binancefuture.com", restURL: "https://demo-fapi.binance.com"))
        #expect(testnet.coinm == .init(webSocketURL: "wss://dstream.binancefuture.com", restURL: "https://testnet.binancefuture.com"))

        let fromEnvironment = try load(["--environment", "testnet"], env: ["BRIDGE_USDM_WS_URL": "ws://127.0.0.1:19001"])
        #expect(fromEnvironment.usdm.webSocketURL == "ws://127.0.0.1:19001")
        #expect(fromEnvironment.usdm.restURL == "https://demo-fapi.binance.com")

        let fromFile = try load(env: ["BRIDGE_ENVIRONMENT": "testnet"], file: try file("coinm:\n  rest_url: https://proxy.example:8443\n"))
        #expect(fromFile.coinm == .init(webSocketURL: "wss://dstream.binancefuture.com", restURL: "https://proxy.example:8443"))
        #expect(fromFile.usdm == testnet.usdm)
    }

    // MARK: Invalid values

    @Test func badValuesNameTheKeyAndTheSource() throws {
        expectError(["--redis-maxlen", "abc"], key: "redis.maxlen", containing: "got \"abc\" (from --redis-maxlen)")
        expectError(env: ["BRIDGE_REDIS_MAXLEN": "0"], key: "redis.maxlen", containing: "(from environment variable BRIDGE_REDIS_MAXLEN)")
        let file = try file("http:\n  port: eighty\n", name: "ports.yaml")
        expectError(file: file, key: "http.port", containing: "got \"eighty\" (from \(file))")
        expectError(["--http-port", "70000"], key: "http.port", containing: "0…65535")
        #expect(try load(["--http-port", "0"]).http.port == 0)  // any free port
        expectError(["--http-host", "local host"], key: "http.host", containing: "expected an address")
        expectError(["--http-port=-1"], key: "http.port", containing: "got \"-1\"")
        expectError(["--redis-command-timeout-ms", "0"], key: "redis.command_timeout_ms", containing: "1…3600000")
        expectError(["--redis-connect-timeout-ms", "3600001"], key: "redis.connect_timeout_ms", containing: "1…3600000")
        expectError(["--books-enabled=maybe"], key: "books.enabled", containing: "expected true or false")
        expectError(env: ["BRIDGE_INSTRUMENTS_STRICT": "2"], key: "instruments.strict", containing: "got \"2\"")
        expectError(["--environment", "prod"], key: "environment", containing: "expected one of mainnet, testnet, got \"prod\"")
        expectError(["--log-level", "loud"], key: "log.level", containing: "trace, debug, info, notice, warning, error, critical")
        expectError(["--redis-prefix", "a b"], key: "redis.prefix", containing: "without spaces")
        expectError(["--redis-prefix="], key: "redis.prefix", containing: "non-empty")
        expectError(["--api-key", " "], key: "api_key", containing: "empty")
        expectError(env: ["BRIDGE_API_KEY": ""], key: "api_key", containing: "BRIDGE_API_KEY")
    }

    @Test func poolSettings() throws {
        let configuration = try load(["--pool-connection-lifetime-s", "30", "--pool-rotation-margin-s=10", "--pool-ping-interval-s", "300"],
                                     env: ["BRIDGE_POOL_MAX_CONNECTIONS": "4", "BRIDGE_POOL_MAX_STREAMS_PER_CONNECTION": "50"])
        #expect(configuration.pool.connectionLifetime == .seconds(30) && configuration.pool.rotationMargin == .seconds(10))
        #expect(configuration.pool.maxConnections == 4 && configuration.pool.maxStreamsPerConnection == 50 && configuration.pool.capacity == 200)
        // A longer ping interval carries the idle timeout past it (quiet connections live on pongs).
        #expect(configuration.pool.pingInterval == .seconds(300) && configuration.pool.idleTimeout > .seconds(300))
        #expect(configuration.pool.problems.isEmpty)
        #expect(configuration.renderedValue(of: "pool.connection_lifetime_s") == "30")
        expectError(["--pool-rotation-margin-s", "86400"], key: "pool.rotation_margin_s", containing: "must be shorter than pool.connection_lifetime_s (86400)")
        expectError(["--pool-connection-lifetime-s", "60"], key: "pool.connection_lifetime_s", containing: "pool.rotation_margin_s (3600)")
        expectError(["--pool-max-streams-per-connection", "1025"], key: "pool.max_streams_per_connection", containing: "1…1024")
        expectError(["--pool-requests-per-second", "10"], key: "pool.requests_per_second", containing: "1…9")
        expectError(env: ["BRIDGE_POOL_MAX_CONNECTIONS": "0"], key: "pool.max_connections", containing: "BRIDGE_POOL_MAX_CONNECTIONS")
        expectError(["--pool-idle-timeout-s", "100"], key: "pool.idle_timeout_s", containing: "more than pool.ping_interval_s (180)")
        #expect(try load(["--pool-ping-interval-s", "5", "--pool-idle-timeout-s", "8"]).pool.idleTimeout == .seconds(8))
    }

    @Test func badURLs() {
        expectError(["--usdm-ws-url", "https://fstream.binance.com"], key: "usdm.ws_url", containing: "ws:// or wss://")
        expectError(["--coinm-ws-url", "fstream.binance.com"], key: "coinm.ws_url", containing: "ws:// or wss://")
        expectError(["--coinm-rest-url", "wss://dapi.binance.com"], key: "coinm.rest_url", containing: "http:// or https://")
        expectError(["--usdm-rest-url", "http://"], key: "usdm.rest_url", containing: "with a host")
        expectError(env: ["BRIDGE_USDM_WS_URL": "wss://"], key: "usdm.ws_url", containing: "with a host")
        expectError(["--redis-url", "redis://host:99999"], key: "redis.url", containing: "port")
        expectError(env: ["BRIDGE_REDIS_URL": "http://x"], key: "redis.url", containing: "scheme")
        expectError(["--redis-url", "rediss://host"], key: "redis.url", containing: "TLS")
        expectError(["--redis-url", "unix://relative.sock"], key: "redis.url", containing: "absolute")
    }

    @Test func badCommandLines() {
        expectError(["--redis-urll", "x"], key: "--redis-urll", containing: "unknown flag")
        expectError(["--redis_url", "x"], key: "--redis_url", containing: "unknown flag")
        expectError(["--redis-url"], key: "--redis-url", containing: "missing value")
        expectError(["--redis-url", "--books-enabled"], key: "--redis-url", containing: "missing value")
        expectError(["--config"], key: "--config", containing: "missing value")
        expectError(["stray"], key: "stray", containing: "unexpected argument")
        expectError(["--"], key: "--", containing: "unexpected argument")
        expectError(["--config", "/nonexistent/bridge.yaml"], key: "config", containing: "\"/nonexistent/bridge.yaml\" does not exist")
        expectError(env: ["BRIDGE_CONFIG": "/nonexistent/x.yaml"], key: "config", containing: "does not exist")
    }

    @Test func badFiles() throws {
        let typo = try file("redis:\n  maxln: 5\n")
        expectError(file: typo, key: "redis.maxln", containing: "unknown setting (in \(typo)); redis has url, prefix, maxlen")
        expectError(file: try file("redis_url: x\n"), key: "redis_url", containing: "unknown setting")
        expectError(file: try file("metrics:\n  port: 1\n"), key: "metrics", containing: "unknown setting")
        expectError(file: try file("redis:\n  url:\n    - a\n    - b\n"), key: "redis.url", containing: "expected a single value, got a list")
        expectError(file: try file("redis:\n  url: {host: x}\n"), key: "redis.url", containing: "expected a single value, got a mapping")
        expectError(file: try file("redis: 5\n"), key: "redis", containing: "expected a mapping of redis.* settings, got a value")
        expectError(file: try file("books: [true]\n"), key: "books", containing: "got a list")
        expectError(file: try file("redis:\n  url:\n"), key: "redis.url", containing: "empty value")
        expectError(file: try file("api_key: ~\n"), key: "api_key", containing: "empty value")
        let duplicate = try file("redis:\n  maxlen: 5\n  maxlen: 6\n")  // Yams rejects this itself
        expectError(file: duplicate, key: duplicate, containing: "duplicated key(s): 'maxlen'")
        expectError(file: try file("redis.maxlen: 5\nredis:\n  maxlen: 6\n"), key: "redis.maxlen", containing: "set more than once")
        let list = try file("- a\n- b\n")
        expectError(file: list, key: list, containing: "top level must be a mapping")
        let broken = try file("redis: [unclosed\n")
        expectError(file: broken, key: broken, containing: "cannot read the file as YAML")
        expectError(file: try file("books:\n  enabled: maybe\n"), key: "books.enabled", containing: "expected true or false")
    }

    // MARK: The shipped files

    @Test func productionFileStatesTheDefaultsAndFollowsTheEnvironment() throws {
        let path = Self.repositoryRoot.appendingPathComponent("config/bridge.yaml").path
        #expect(try load(file: path) == BridgeConfiguration())
        // The URL keys are left to `environment`, so testnet needs no other change.
        let testnet = try load(env: ["BRIDGE_ENVIRONMENT": "testnet"], file: path)
        #expect(testnet.usdm == .standard(.usdm, .testnet) && testnet.coinm == .standard(.coinm, .testnet))
    }

    @Test func productionFileDocumentsEverySetting() throws {
        let text = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("config/bridge.yaml"), encoding: .utf8)
        for setting in BridgeConfiguration.settings {
            let leaf = setting.key.split(separator: ".").last.map(String.init) ?? setting.key
            #expect(text.contains("\(leaf):"), "\(setting.key) is not in config/bridge.yaml")
            #expect(text.contains("env \(setting.environmentVariable), flag \(setting.flag), default "), "\(setting.key) is not documented")
        }
    }

    @Test func testnetFileLoads() throws {
        let configuration = try load(file: Self.repositoryRoot.appendingPathComponent("config/testnet.yaml").path)
        #expect(configuration.environment == .testnet)
        #expect(configuration.usdm == .standard(.usdm, .testnet) && configuration.coinm == .standard(.coinm, .testnet))
    }

    @Test func simulatorFileLoads() throws {
        let configuration = try load(file: Self.repositoryRoot.appendingPathComponent("config/sim.yaml").path)
        #expect(configuration.usdm == .init(webSocketURL: "ws://127.0.0.1:19001", restURL: "http://127.0.0.1:19001"))
        #expect(configuration.coinm == .init(webSocketURL: "ws://127.0.0.1:19002", restURL: "http://127.0.0.1:19002"))
        #expect(configuration.instruments.syncOnStart)
        #expect(configuration.environment == .mainnet)
        #expect(configuration.books.enabled && configuration.books.snapshotInterval == .seconds(10))
    }

    @Test func bookSettings() throws {
        let configuration = try load(env: ["BRIDGE_BOOKS_SYMBOLS": " btcusdt, BTCUSD_PERP ,", "BRIDGE_BOOKS_DEPTH_LIMIT": "500"], file: try file("books:\n  exclude: ethusdt\n  snapshot_every_s: 5\n"))
        #expect(configuration.books.symbols == ["BTCUSDT", "BTCUSD_PERP"])
        #expect(configuration.books.exclude == ["ETHUSDT"])
        #expect(configuration.books.depthLimit == 500 && configuration.books.snapshotInterval == .seconds(5))
        #expect(configuration.books.isEnabled(symbol: "BTCUSDT") && !configuration.books.isEnabled(symbol: "SOLUSDT"))
        expectError(["--books-depth-limit", "7"], key: "books.depth_limit", containing: "expected one of 5, 10, 20, 50, 100, 500, 1000")
        expectError(["--books-symbols", "BTC USDT"], key: "books.symbols", containing: "comma-separated symbols")
        expectError(["--books-rest-weight-per-minute", "5000"], key: "books.rest_weight_per_minute", containing: "20…2400")
    }
}

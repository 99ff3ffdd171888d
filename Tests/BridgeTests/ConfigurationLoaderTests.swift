import BridgeCore
import Foundation
import Testing
@testable import Bridge

@Suite("Configuration loading: flag > environment > file > default")
struct ConfigurationLoaderTests {
    /// A YAML file in a fresh temporary directory.
    private func file(_ yaml: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("bridge.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func load(_ arguments: [String] = [], env: [String: String] = [:], file: String? = nil) async throws(ConfigurationError) -> BridgeConfiguration {
        try await BridgeConfigurationLoader.load(arguments: arguments + (file.map { ["--config", $0] } ?? []), environment: env, defaultConfigFile: nil)
    }

    private func expectError(_ arguments: [String] = [], env: [String: String] = [:], file: String? = nil, key: String, containing: String) async {
        do {
            let configuration = try await load(arguments, env: env, file: file)
            Issue.record("loaded \(configuration.redactedSettingsDescription) instead of failing on \(key)")
        } catch {
            #expect(error.key == key, "\(error)")
            #expect(error.description.contains(containing), "\(error)")
            #expect(!error.description.contains("\n"), "one line: \(error)")
        }
    }

    @Test func defaultsWithNothingGiven() async throws {
        #expect(try await load() == BridgeConfiguration())
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() async throws {
        let path = try file("""
            redis:
              url: redis://file-host:6379/1
              prefix: fromfile
              maxlen: 111
            http:
              port: 9000
            """)
        let env = ["BRIDGE_REDIS_PREFIX": "fromenv", "BRIDGE_REDIS_MAXLEN": "222", "UNRELATED": "x"]
        let configuration = try await load(["--redis-maxlen", "333"], env: env, file: path)
        #expect(configuration.redis.maxlen == 333)          // flag
        #expect(configuration.redis.prefix == "fromenv")    // env over file
        #expect(configuration.redis.url == "redis://file-host:6379/1")  // file over default
        #expect(configuration.http.port == 9000)
        #expect(configuration.books.enabled == false)       // default
    }

    @Test func flagForms() async throws {
        let configuration = try await load(["--books-enabled", "--instruments-strict=true", "--redis-prefix=a:b", "--http-port", "1234", "--instruments-sync-on-start", "false"])
        #expect(configuration.books.enabled)
        #expect(configuration.instruments.strict)
        #expect(!configuration.instruments.syncOnStart)
        #expect(configuration.redis.prefix == "a:b")
        #expect(configuration.http.port == 1234)
        let env = try await load(env: ["BRIDGE_BOOKS_ENABLED": "YES", "BRIDGE_LOG_LEVEL": "debug", "BRIDGE_API_KEY": "k",
                                       "BRIDGE_REDIS_COMMAND_TIMEOUT_MS": "250"])
        #expect(env.books.enabled && env.log.level == .debug && env.apiKey?.secret == "k")
        #expect(env.redis.commandTimeout == .milliseconds(250))
    }

    @Test func testnetSwitchesDefaultsButNotExplicitURLs() async throws {
        let testnet = try await load(["--environment", "testnet"])
        #expect(testnet.usdm.webSocketURL == "wss://fstream.binancefuture.com")
        #expect(testnet.usdm.restURL == "https://demo-fapi.binance.com")
        #expect(testnet.coinm.webSocketURL == "wss://dstream.binancefuture.com")
        let mixed = try await load(["--environment", "testnet"], env: ["BRIDGE_USDM_WS_URL": "ws://127.0.0.1:19001"])
        #expect(mixed.usdm.webSocketURL == "ws://127.0.0.1:19001")
        #expect(mixed.usdm.restURL == "https://demo-fapi.binance.com")
    }

    @Test func badValuesNameTheKeyAndTheSource() async throws {
        await expectError(["--redis-maxlen", "abc"], key: "redis.maxlen", containing: "\"abc\" (from --redis-maxlen)")
        await expectError(env: ["BRIDGE_REDIS_MAXLEN": "0"], key: "redis.maxlen", containing: "environment variable BRIDGE_REDIS_MAXLEN")
        await expectError(["--http-port", "70000"], key: "http.port", containing: "1…65535")
        await expectError(["--books-enabled=maybe"], key: "books.enabled", containing: "expected true or false")
        await expectError(["--environment", "prod"], key: "environment", containing: "mainnet, testnet")
        await expectError(["--log-level", "loud"], key: "log.level", containing: "trace")
        await expectError(["--usdm-ws-url", "https://fstream.binance.com"], key: "usdm.ws_url", containing: "ws:// or wss://")
        await expectError(["--coinm-rest-url", "wss://x"], key: "coinm.rest_url", containing: "http:// or https://")
        await expectError(["--usdm-rest-url", "http://"], key: "usdm.rest_url", containing: "with a host")
        await expectError(["--redis-url", "redis://host:99999"], key: "redis.url", containing: "port")
        await expectError(env: ["BRIDGE_REDIS_URL": "http://x"], key: "redis.url", containing: "scheme")
        await expectError(["--redis-prefix", "a b"], key: "redis.prefix", containing: "without spaces")
        await expectError(["--api-key", " "], key: "api_key", containing: "empty")
        await expectError(["--redis-command-timeout-ms", "0"], key: "redis.command_timeout_ms", containing: "1…3600000")
    }

    @Test func badCommandLinesAreErrors() async throws {
        await expectError(["--redis-urll", "x"], key: "--redis-urll", containing: "unknown flag")
        await expectError(["--redis-url"], key: "--redis-url", containing: "missing value")
        await expectError(["stray"], key: "stray", containing: "unexpected argument")
        await expectError(["--config", "/nonexistent/bridge.yaml"], key: "config", containing: "does not exist")
        await expectError(env: ["BRIDGE_CONFIG": "/nonexistent/x.yaml"], key: "config", containing: "does not exist")
    }

    @Test func badFilesAreErrors() async throws {
        await expectError(file: try file("redis:\n  maxln: 5\n"), key: "redis.maxln", containing: "unknown setting")
        await expectError(file: try file("redis:\n  url:\n    - a\n    - b\n"), key: "redis.url", containing: "got a list")
        await expectError(file: try file("redis:\n  url: {host: x}\n"), key: "redis.url", containing: "got a mapping")
        await expectError(file: try file("redis: 5\n"), key: "redis", containing: "unknown setting")
        let list = try file("- a\n- b\n")
        await expectError(file: list, key: list, containing: "top level must be a mapping")
        await expectError(file: try file("redis:\n  url:\n"), key: "redis.url", containing: "empty value")
        let broken = try file("redis: [unclosed\n")
        await expectError(file: broken, key: broken, containing: "not valid YAML")
        await expectError(file: try file("http:\n  port: eighty\n"), key: "http.port", containing: "bridge.yaml")
    }

    @Test(arguments: ["bridge.yaml", "testnet.yaml", "sim.yaml"])
    func shippedConfigFilesLoad(name: String) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("config/\(name)").path
        let configuration = try await load(file: path)
        switch name {
        case "bridge.yaml": #expect(configuration == BridgeConfiguration(), "bridge.yaml must state the defaults")
        case "testnet.yaml": #expect(configuration.environment == .testnet && configuration.usdm.webSocketURL.contains("binancefuture"))
        default: #expect(configuration.usdm.webSocketURL == "ws://127.0.0.1:19001" && configuration.coinm.restURL == "http://127.0.0.1:19002")
        }
    }
}

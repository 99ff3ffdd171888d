import Testing
@testable import BridgeCore

@Suite("BridgeConfiguration")
struct ConfigurationTests {
    @Test func defaultsMatchTheContract() {
        let configuration = BridgeConfiguration()
        #expect(configuration.redis.url == "redis://127.0.0.1:6379/0")
        #expect(configuration.redis.prefix == "binance")
        #expect(configuration.redis.maxlen == 100_000)
        #expect(configuration.usdm.webSocketURL == "wss://fstream.binance.com")
        #expect(configuration.usdm.restURL == "https://fapi.binance.com")
        #expect(configuration.coinm.webSocketURL == "wss://dstream.binance.com")
        #expect(configuration.coinm.restURL == "https://dapi.binance.com")
        #expect(configuration.environment == .mainnet)
        #expect(configuration.apiKey == nil)
        #expect(configuration.http.port == 9464)
        #expect(!configuration.instruments.strict && configuration.instruments.syncOnStart)
        #expect(!configuration.books.enabled)
        // The table's documented defaults are the struct's real defaults.
        for setting in BridgeConfiguration.settings where setting.key != "api_key" {
            #expect(configuration.renderedValue(of: setting.key) == setting.defaultValue, "\(setting.key)")
        }
    }

    @Test func settingsTableListsEveryContractKeyOnceWithItsNames() {
        let keys = BridgeConfiguration.settings.map(\.key)
        #expect(Set(keys).count == keys.count)
        let contract = ["redis.url", "redis.prefix", "redis.maxlen", "usdm.ws_url", "usdm.rest_url", "coinm.ws_url",
                        "coinm.rest_url", "environment", "api_key", "http.port", "instruments.strict",
                        "instruments.sync_on_start", "books.enabled"]
        for key in contract { #expect(keys.contains(key), "\(key) missing") }
        let sync = BridgeConfiguration.settings.first { $0.key == "instruments.sync_on_start" }
        #expect(sync?.environmentVariable == "BRIDGE_INSTRUMENTS_SYNC_ON_START")
        #expect(sync?.flag == "--instruments-sync-on-start")
        #expect(BridgeConfiguration.settings.first { $0.key == "api_key" }?.environmentVariable == "BRIDGE_API_KEY")
        #expect(BridgeConfiguration.settings.first { $0.key == "redis.url" }?.flag == "--redis-url")
    }

    @Test func apiKeyNeverAppearsInAnyRendering() {
        var configuration = BridgeConfiguration()
        configuration.apiKey = APIKey("sk-live-123456")
        configuration.redis.url = "redis://ops:hunter2@10.0.0.5:6379/0"
        var dumped = ""
        dump(configuration, to: &dumped)
        let renderings = [
            "\(configuration)", String(describing: configuration), String(reflecting: configuration), dumped,
            configuration.redactedSettingsDescription, "\(configuration.apiKey!)",
        ]
        for text in renderings {
            #expect(!text.contains("sk-live-123456"), "\(text)")
        }
        #expect(configuration.redactedSettingsDescription.contains("api_key = <redacted>"))
        #expect(configuration.redactedSettingsDescription.contains("redis.url = redis://ops:***@10.0.0.5:6379/0"))
        #expect(!configuration.redactedSettingsDescription.contains("hunter2"))
        #expect(configuration.apiKey?.secret == "sk-live-123456")
    }

    @Test func marketsAndEnvironmentsSelectBinanceEndpoints() {
        #expect(BridgeConfiguration.MarketEndpoints.standard(.usdm, .testnet).webSocketURL == "wss://fstream.binancefuture.com")
        #expect(BridgeConfiguration.MarketEndpoints.standard(.coinm, .testnet).restURL == "https://testnet.binancefuture.com")
        #expect(BridgeConfiguration().endpoints(.coinm).webSocketURL == "wss://dstream.binance.com")
    }
}

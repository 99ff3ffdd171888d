import BridgeCore
import Testing
@testable import BinanceStreams

@Suite("Binance endpoints")
struct BinanceEndpointTests {
    @Test func usdmRoutesAreSeparatePaths() {
        let endpoint = BinanceEndpoint.mainnet(.usdm)
        #expect(endpoint.combinedStreamURL(route: .public) == "wss://fstream.binance.com/public/stream")
        #expect(endpoint.combinedStreamURL(route: .market) == "wss://fstream.binance.com/market/stream")
        #expect(endpoint.rawStreamURL(route: .market, stream: "btcusdt@aggTrade") == "wss://fstream.binance.com/market/ws/btcusdt@aggTrade")
        #expect(endpoint.restURL("depth") == "https://fapi.binance.com/fapi/v1/depth")
    }

    @Test func coinmHasNoRouteSplit() {
        let endpoint = BinanceEndpoint.mainnet(.coinm)
        #expect(endpoint.combinedStreamURL(route: .market) == "wss://dstream.binance.com/stream")
        #expect(endpoint.combinedStreamURL(route: .public) == "wss://dstream.binance.com/stream")
        #expect(endpoint.restURL("exchangeInfo") == "https://dapi.binance.com/dapi/v1/exchangeInfo")
    }

    @Test func overridesKeepTheirSchemeAndDropTrailingSlashes() {
        let endpoint = BinanceEndpoint(market: .usdm, webSocketBase: "ws://127.0.0.1:19001//", restBase: "http://127.0.0.1:19001/")
        #expect(endpoint.combinedStreamURL(route: .public) == "ws://127.0.0.1:19001/public/stream")
        #expect(endpoint.restURL("depth") == "http://127.0.0.1:19001/fapi/v1/depth")
        #expect(BinanceEndpoint.testnet(.usdm).webSocketBase == "wss://fstream.binancefuture.com")
    }

    @Test func onlyFuturesMarketsAreAccepted() throws {
        #expect(try BinanceMarket(name: "USDM") == .usdm)
        #expect(try BinanceMarket(name: "coinm") == .coinm)
        #expect(throws: BinanceMarketError.self) { try BinanceMarket(name: "spot") }
        do {
            _ = try BinanceMarket(name: "options")
            Issue.record("options accepted")
        } catch {
            #expect(error.description.contains("only futures markets"))
        }
        do {
            _ = try BinanceMarket(name: "btc")
            Issue.record("btc accepted")
        } catch {
            #expect(error.description.contains("expected usdm or coinm"))
        }
    }
}

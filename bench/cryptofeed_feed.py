"""cryptofeed 2.4.1's Binance USD-M feed pointed at binance-sim, writing its Redis Streams
backend: the reference publisher the end-to-end benchmark runs side by side with the bridge.

  python cryptofeed_feed.py SIM_PORT REDIS_PORT REDIS_DB SCHEME SYMBOL...   (e.g. BTC-USDT-PERP)

SCHEME `ws` (the harness's default: the same transport as the bridge's) or `wss`, where the
simulator serves TLS with a self-signed certificate (SSL_CERT_FILE and REQUESTS_CA_BUNDLE
point at it). Channels: trades (aggTrade), ticker
(bookTicker), l2_book (depth@100ms with its REST snapshot) and funding (markPrice), each into
cryptofeed's own stream keys (`trades-BINANCE_FUTURES-BTC-USDT-PERP`, …).
"""
import sys

from cryptofeed import FeedHandler
from cryptofeed.backends.redis import BookStream, FundingStream, TickerStream, TradeStream
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
from cryptofeed.defines import FUNDING, L2_BOOK, TICKER, TRADES
from cryptofeed.exchanges import BinanceFutures


def main():
    sim_port, redis_port, redis_db, scheme = sys.argv[1:5]
    symbols = sys.argv[5:]
    http = "https" if scheme == "wss" else "http"

    class SimBinanceFutures(BinanceFutures):
        """Binance USD-M futures with the endpoints of the local simulator."""
        websocket_endpoints = [WebsocketEndpoint(f"{scheme}://127.0.0.1:{sim_port}", options={"compression": None})]
        rest_endpoints = [RestEndpoint(f"{http}://127.0.0.1:{sim_port}", routes=Routes(
            "/fapi/v1/exchangeInfo", l2book="/fapi/v1/depth?symbol={}&limit={}", authentication="/fapi/v1/listenKey",
            open_interest="/fapi/v1/openInterest?symbol={}"))]

    # cryptofeed builds "redis://HOST:PORT"; the database rides on the port.
    target = {"host": "127.0.0.1", "port": f"{redis_port}/{redis_db}"}
    handler = FeedHandler(config={"log": {"filename": "/dev/null", "level": "WARNING"}})
    handler.add_feed(SimBinanceFutures(
        symbols=symbols, channels=[TRADES, TICKER, L2_BOOK, FUNDING],
        callbacks={TRADES: TradeStream(**target), TICKER: TickerStream(**target), L2_BOOK: BookStream(**target),
                   FUNDING: FundingStream(**target)}))
    handler.run()


if __name__ == "__main__":
    main()

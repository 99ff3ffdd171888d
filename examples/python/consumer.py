#!/usr/bin/env python3
"""Read binance-bridge streams with a Redis consumer group, handling the markers.

    python3 consumer.py --group quant --stream binance:usdm:btcusdt@aggTrade

Every entry has a `type`. Data entries (agg_trade, depth_update, book_ticker, …) carry
exact decimal strings: parse them with decimal.Decimal, never float. Markers say where
data may be missing, in the stream itself, in order:

- type=gap: reason (reconnect, rotation, stale, overflow, restart, sequence) and the window
  gap_start_us..gap_end_us. A consumer that must not miss data resynchronises this stream
  (e.g. re-fetches that window elsewhere, or waits for the next depth snapshot).
- type=status: subscribed (first entry), unsubscribed (last), stale, resumed.

Entries are acknowledged (XACK) once handled, so a restarted consumer resumes where it left
off. Stops after --count data entries or --seconds, then prints a JSON summary.
"""
import argparse
import json
import sys
import time
from decimal import Decimal

import redis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--stream", action="append", required=True, help="stream key, e.g. binance:usdm:btcusdt@aggTrade")
    parser.add_argument("--group", default="example")
    parser.add_argument("--consumer", default="consumer-1")
    parser.add_argument("--count", type=int, default=10, help="stop after this many data entries")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop after this long")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    for stream in args.stream:
        try:
            # From the start of the stream ("0"); MKSTREAM: the stream may not exist yet.
            client.xgroup_create(stream, args.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
    summary = {"data": 0, "gaps": [], "statuses": [], "last_price": None}
    deadline = time.monotonic() + args.seconds
    while summary["data"] < args.count and time.monotonic() < deadline:
        batches = client.xreadgroup(args.group, args.consumer, {s: ">" for s in args.stream}, count=100, block=1000)
        for stream, entries in batches or []:
            for entry_id, fields in entries:
                kind = fields.get("type")
                if kind == "gap":
                    summary["gaps"].append({"stream": stream, "reason": fields["reason"],
                                            "from_us": int(fields["gap_start_us"]), "to_us": int(fields["gap_end_us"])})
                    print(f"GAP {stream} {fields['reason']} {fields['gap_start_us']}..{fields['gap_end_us']}", file=sys.stderr)
                elif kind == "status":
                    summary["statuses"].append(fields["status"])
                else:
                    summary["data"] += 1
                    if "price" in fields:
                        summary["last_price"] = str(Decimal(fields["price"]))  # exact, as sent
                client.xack(stream, args.group, entry_id)
    print(json.dumps(summary))
    return 0 if summary["data"] >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())

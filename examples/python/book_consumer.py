#!/usr/bin/env python3
"""Rebuild an order book from a binance-bridge diff-depth stream, the way a consumer should.

    python3 book_consumer.py --stream binance:usdm:btcusdt@depth@100ms --updates 200

The bridge (with books.enabled) writes, in the stream itself:
- type=depth_snapshot: last_update_id, bids, asks (best first), checksum; source=rest after
  each (re)sync, source=book for the periodic ones;
- type=depth_update: first_update_id (U), final_update_id (u), prev_final_update_id (pu),
  bids/asks as [["price","qty"], ...]; qty "0" removes the level;
- type=gap: data may be missing; reason=sequence when the bridge saw pu break the chain.

Binance's procedure, on the stream: start at a depth_snapshot; skip updates with
u < last_update_id; the first applied must have U <= last_update_id <= u; every later one
must have pu == the previous u. On a gap marker or a broken chain, drop the book and start
again at the next depth_snapshot. Prices and quantities stay decimal.Decimal.

The checksum (BookChecksum in the bridge) lets a consumer check its book against the
bridge's: each level contributes mix(mix(int(price * 10**8) ^ salt) + int(qty * 10**8)),
summed modulo 2**64 over both sides, with splitmix64's finaliser as mix.

Stops after --updates applied updates (or --seconds) and prints a JSON summary with the
book (best first), its last update id and checksum.
"""
import argparse
import json
import sys
import time
from decimal import Decimal

import redis

MASK = (1 << 64) - 1
BID_SALT = 0x9E3779B97F4A7C15
ASK_SALT = 0xD1B54A32D192ED03
SCALE = Decimal(10) ** 8


def mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def level_checksum(is_bid: bool, price: Decimal, qty: Decimal) -> int:
    p = int(price * SCALE) & MASK
    q = int(qty * SCALE) & MASK
    return mix((mix(p ^ (BID_SALT if is_bid else ASK_SALT)) + q) & MASK)


def checksum(bids: dict, asks: dict) -> int:
    total = 0
    for price, qty in bids.items():
        total = (total + level_checksum(True, price, qty)) & MASK
    for price, qty in asks.items():
        total = (total + level_checksum(False, price, qty)) & MASK
    return total


class Book:
    def __init__(self):
        self.bids = {}
        self.asks = {}
        self.last_update_id = None  # None: waiting for a snapshot
        self.snapshot_id = None
        self.applied = 0

    def reset(self):
        self.bids, self.asks, self.last_update_id, self.snapshot_id = {}, {}, None, None

    def load(self, fields):
        self.bids = {Decimal(p): Decimal(q) for p, q in json.loads(fields["bids"])}
        self.asks = {Decimal(p): Decimal(q) for p, q in json.loads(fields["asks"])}
        self.snapshot_id = int(fields["last_update_id"])
        self.last_update_id = None

    def update(self, fields) -> bool:
        """Applies one depth_update; False when the chain is broken (start again)."""
        first, final, prev = (int(fields[k]) for k in ("first_update_id", "final_update_id", "prev_final_update_id"))
        if self.last_update_id is None:
            if final < self.snapshot_id:
                return True  # older than the snapshot: already in it
            if first > self.snapshot_id:
                return False  # the snapshot is older than the first update after it
        elif prev != self.last_update_id:
            return False
        for side, key in ((self.bids, "bids"), (self.asks, "asks")):
            for price, qty in json.loads(fields[key]):
                price, qty = Decimal(price), Decimal(qty)
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = final
        self.applied += 1
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--stream", required=True, help="stream key, e.g. binance:usdm:btcusdt@depth@100ms")
    parser.add_argument("--updates", type=int, default=100, help="stop after this many updates applied")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--from-start", action="store_true", help="read the stream from its first entry (else only new entries)")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    book = Book()
    summary = {"snapshots": 0, "gaps": 0, "restarts": 0, "checksum_mismatches": 0, "checked_snapshots": 0}
    last_id = "0-0" if args.from_start else "$"
    deadline = time.monotonic() + args.seconds
    while book.applied < args.updates and time.monotonic() < deadline:
        reply = client.xread({args.stream: last_id}, block=1000, count=500)
        for _, entries in reply:
            for entry_id, fields in entries:
                last_id = entry_id
                kind = fields.get("type")
                if kind == "depth_snapshot":
                    summary["snapshots"] += 1
                    if book.snapshot_id is None or fields.get("source") == "rest":
                        book.load(fields)
                    elif book.last_update_id == int(fields["last_update_id"]):
                        # A periodic snapshot of the bridge's book at our update id: compare.
                        summary["checked_snapshots"] += 1
                        if str(checksum(book.bids, book.asks)) != fields["checksum"]:
                            summary["checksum_mismatches"] += 1
                elif kind == "gap":
                    summary["gaps"] += 1
                    book.reset()
                elif kind == "depth_update" and book.snapshot_id is not None:
                    if not book.update(fields):
                        summary["restarts"] += 1
                        book.reset()
                if book.applied >= args.updates:
                    break
            if book.applied >= args.updates:
                break

    def best_first(side, reverse):
        return [[str(p), str(q)] for p, q in sorted(side.items(), reverse=reverse)]

    summary.update({
        "applied": book.applied,
        "last_update_id": book.last_update_id,
        "checksum": str(checksum(book.bids, book.asks)),
        "bids": best_first(book.bids, True),
        "asks": best_first(book.asks, False),
    })
    print(json.dumps(summary))
    return 0 if book.applied >= args.updates and summary["checksum_mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Send one control command to binance-bridge and wait for its reply (redis-py only).

    python3 control.py subscribe btcusdt@aggTrade ethusdt@depth@100ms
    python3 control.py --market coinm list
    python3 control.py status

The contract: PUBLISH a JSON command on {prefix}:control with a reply_to list key; the
bridge LPUSHes the reply there (and expires it after 60 s). Exit 0 on an ok reply, 1 on an
error reply, 3 when no bridge listens or no reply comes in time.
"""
import argparse
import json
import sys
import uuid

import redis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", default="binance")
    parser.add_argument("--market", choices=["usdm", "coinm"])
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("op", help="subscribe, unsubscribe, list, status, reconcile, instruments.sync, instruments.reload")
    parser.add_argument("streams", nargs="*")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    reply_to = f"{args.prefix}:reply:{uuid.uuid4().hex}"
    command = {"op": args.op, "id": 1, "reply_to": reply_to}
    if args.market:
        command["market"] = args.market
    if args.streams:
        command["streams"] = args.streams
    if client.publish(f"{args.prefix}:control", json.dumps(command)) == 0:
        print(f"no bridge listens on {args.prefix}:control", file=sys.stderr)
        return 3
    popped = client.blpop([reply_to], timeout=args.timeout)
    if popped is None:
        print(f"no reply within {args.timeout} s", file=sys.stderr)
        return 3
    reply = json.loads(popped[1])
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

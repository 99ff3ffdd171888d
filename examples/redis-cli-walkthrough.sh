#!/usr/bin/env bash
# binance-bridge with nothing but redis-cli: subscribe, read the reply, read the stream.
#   REDIS_HOST=127.0.0.1 REDIS_PORT=6379 PREFIX=binance examples/redis-cli-walkthrough.sh
set -euo pipefail
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
prefix=${PREFIX:-binance}
stream=${STREAM:-btcusdt@aggTrade}
cli=(redis-cli -h "$host" -p "$port" --no-auth-warning)
reply_to="$prefix:reply:walkthrough-$$"

echo "# 1. Subscribe: PUBLISH a command naming a reply list"
receivers=$("${cli[@]}" PUBLISH "$prefix:control" "{\"op\":\"subscribe\",\"id\":1,\"streams\":[\"$stream\"],\"reply_to\":\"$reply_to\"}")
[ "$receivers" -ge 1 ] || { echo "no bridge listens on $prefix:control" >&2; exit 3; }

echo "# 2. The reply: BLPOP the list (the bridge expires it after 60 s)"
reply=$("${cli[@]}" --raw BLPOP "$reply_to" 5 | tail -n 1)
echo "$reply"
case "$reply" in *'"ok":true'*) ;; *) echo "not ok" >&2; exit 1 ;; esac

echo "# 3. The desired set (restored at every start)"
"${cli[@]}" SMEMBERS "$prefix:subscriptions:usdm"

echo "# 4. Entries: the first is the subscribed marker, then data"
key="$prefix:usdm:$stream"
for _ in $(seq 1 50); do
    [ "$("${cli[@]}" XLEN "$key")" -ge 3 ] && break
    sleep 0.2
done
"${cli[@]}" XRANGE "$key" - + COUNT 3
[ "$("${cli[@]}" XLEN "$key")" -ge 3 ] || { echo "no entries in $key" >&2; exit 1; }

echo "# 5. Follow new entries (one blocking read of up to 1 s)"
"${cli[@]}" XREAD COUNT 2 BLOCK 1000 STREAMS "$key" '$' || true
echo "# done"

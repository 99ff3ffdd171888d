#!/usr/bin/env bash
# Quick start: runs the bridge against a local Redis.
#
# Installs missing system packages, uses the Redis at $BRIDGE_REDIS_URL, or the one on
# 127.0.0.1:6379 if it answers, or else starts a throwaway redis-server on a free loopback
# port (stopped on exit); builds and runs the bridge until Ctrl-C.
# DEMO_SECONDS=N stops it after N seconds (SIGTERM, as an orchestrator would).
#
# It starts the built-in simulator (binance-sim) on free loopback ports, points the bridge at
# it, subscribes a few streams through the control channel (as any client would) and prints
# entries per stream every 2 seconds. The `binance-bridge demo` live view comes later.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_system_packages

if [ -z "${BRIDGE_REDIS_URL:-}" ]; then
    if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        export BRIDGE_REDIS_URL="redis://127.0.0.1:6379/0"
        echo "==> using the Redis already running on 127.0.0.1:6379"
    else
        start_throwaway_redis
        trap stop_throwaway_redis EXIT
        export BRIDGE_REDIS_URL="$REDIS_URL"
    fi
fi

echo "==> building binance-bridge and binance-sim"
swift build --product binance-bridge
swift build --product binance-sim
bindir="$(swift build --show-bin-path)"

# The built-in exchange: binance-sim on free loopback ports (Binance itself is not needed).
usdm_port="$(free_port)"
coinm_port="$(free_port)"
"$bindir/binance-sim" --config config/binance-sim.yaml --usdm-port "$usdm_port" --coinm-port "$coinm_port" >/dev/null 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$usdm_port/fapi/v1/ping" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
echo "==> binance-sim on 127.0.0.1:$usdm_port (USD-M) and :$coinm_port (COIN-M)"

prefix="${BRIDGE_REDIS_PREFIX:-binance}"
echo "==> starting the bridge (Ctrl-C to stop)"
"$bindir/binance-bridge" run --config config/sim.yaml \
    --usdm-ws-url "ws://127.0.0.1:$usdm_port" --usdm-rest-url "http://127.0.0.1:$usdm_port" \
    --coinm-ws-url "ws://127.0.0.1:$coinm_port" --coinm-rest-url "http://127.0.0.1:$coinm_port" &
bridge_pid=$!
stop_all() {
    kill -TERM "$bridge_pid" 2>/dev/null || true
}
cleanup_sim() {
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
}
trap 'stop_all' INT TERM
trap 'cleanup_sim; stop_throwaway_redis 2>/dev/null || true' EXIT
if [ -n "${DEMO_SECONDS:-}" ]; then
    ( sleep "$DEMO_SECONDS"; kill -TERM "$bridge_pid" 2>/dev/null || true ) &
fi

# Drive it as any client would: a command on the control channel, the reply on a list.
streams='["btcusdt@aggTrade","btcusdt@depth@100ms","btcusdt@bookTicker","ethusdt@aggTrade","btcusdt@markPrice@1s"]'
for _ in $(seq 1 100); do
    if [ "$(redis-cli -u "$BRIDGE_REDIS_URL" PUBSUB NUMSUB "$prefix:control" 2>/dev/null | tail -1)" = "1" ]; then break; fi
    sleep 0.2
done
redis-cli -u "$BRIDGE_REDIS_URL" PUBLISH "$prefix:control" \
    "{\"op\":\"subscribe\",\"id\":\"demo\",\"reply_to\":\"$prefix:demo:reply\",\"streams\":$streams}" >/dev/null
echo "==> reply: $(redis-cli -u "$BRIDGE_REDIS_URL" BLPOP "$prefix:demo:reply" 10 | tail -1)"

# A plain live view: entries per stream and the last trade price, every 2 seconds.
(
    while kill -0 "$bridge_pid" 2>/dev/null; do
        sleep 2
        line=""
        for stream in btcusdt@aggTrade btcusdt@depth@100ms btcusdt@bookTicker ethusdt@aggTrade btcusdt@markPrice@1s; do
            line="$line $stream=$(redis-cli -u "$BRIDGE_REDIS_URL" XLEN "$prefix:usdm:$stream" 2>/dev/null)"
        done
        price="$(redis-cli -u "$BRIDGE_REDIS_URL" --no-raw XREVRANGE "$prefix:usdm:btcusdt@aggTrade" + - COUNT 1 2>/dev/null | grep -A1 '"price"' | tail -1 | tr -d ' "' | sed 's/^[0-9]*)//')"
        kill -0 "$bridge_pid" 2>/dev/null && echo "entries:$line  BTCUSDT last=$price"
    done
) &

status=0
wait "$bridge_pid" || status=$?
# A signal interrupts the first wait; wait again for the bridge's own exit status.
if kill -0 "$bridge_pid" 2>/dev/null; then wait "$bridge_pid" || status=$?; fi
echo "==> bridge exited with status $status"
exit "$status"

#!/usr/bin/env bash
# Quick start: runs the bridge against a local Redis.
#
# Installs missing system packages, uses the Redis at $BRIDGE_REDIS_URL, or the one on
# 127.0.0.1:6379 if it answers, or else starts a throwaway redis-server on a free loopback
# port (stopped on exit); builds and runs the bridge until Ctrl-C.
# DEMO_SECONDS=N stops it after N seconds (SIGTERM, as an orchestrator would).
#
# The simulator-driven live view arrives with the binance-sim and demo issues; today the demo
# shows the bridge starting, connecting to Redis and shutting down cleanly.
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

echo "==> building binance-bridge"
swift build --product binance-bridge
bin="$(swift build --show-bin-path)/binance-bridge"

echo "==> starting the bridge (Ctrl-C to stop)"
"$bin" run --config config/sim.yaml &
bridge_pid=$!
forward() { kill -TERM "$bridge_pid" 2>/dev/null || true; }
trap 'forward' INT TERM
if [ -n "${DEMO_SECONDS:-}" ]; then
    ( sleep "$DEMO_SECONDS"; kill -TERM "$bridge_pid" 2>/dev/null || true ) &
fi
status=0
wait "$bridge_pid" || status=$?
# A signal interrupts the first wait; wait again for the bridge's own exit status.
if kill -0 "$bridge_pid" 2>/dev/null; then wait "$bridge_pid" || status=$?; fi
echo "==> bridge exited with status $status"
exit "$status"

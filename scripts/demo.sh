#!/usr/bin/env bash
# Quick start: the bridge against the built-in exchange simulator, with a live view.
#
# Installs missing system packages (hiredis, redis-server, …), builds binance-bridge and runs
# `binance-bridge demo`: the simulator in-process on free loopback ports, the Redis at
# $BRIDGE_REDIS_URL or on 127.0.0.1:6379 if one answers, else a redis-server child on a free
# loopback port (stopped on exit); five streams subscribed through the control channel, and
# per stream the entries per second, receive-to-Redis lag, last price and gaps, redrawn in
# place on a terminal. Ctrl-C stops it cleanly; DEMO_SECONDS=N stops it after N seconds.
# Extra arguments go to `binance-bridge demo` (e.g. --streams solusdt@aggTrade btcusdt@depth@100ms).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_system_packages

echo "==> building binance-bridge"
swift build --product binance-bridge
bindir="$(swift build --show-bin-path)"

arguments=(demo)
if [ -n "${DEMO_SECONDS:-}" ]; then arguments+=(--seconds "$DEMO_SECONDS"); fi
exec "$bindir/binance-bridge" "${arguments[@]}" "$@"

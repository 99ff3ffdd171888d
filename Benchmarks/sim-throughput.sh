#!/usr/bin/env bash
# Measures the aggregate message rate one binance-sim process offers on loopback.
#
#   Benchmarks/sim-throughput.sh [CONNECTIONS] [SECONDS] [RATE] [SYMBOLS]
#   (defaults: 8 connections, 10 s, 20000 actions/s per symbol, BTCUSDT,ETHUSDT,SOLUSDT)
#
# Starts a release binance-sim on free ports, opens CONNECTIONS WebSocket connections with
# sim-drain (a C reader that only walks frame headers, so the client is not the bottleneck),
# each subscribed to bookTicker, aggTrade, trade and depth@100ms of every symbol, and prints
# messages per second received, the simulator's CPU use over the window and its RSS.
# Bounded: the run lasts SECONDS (≤ 600), and only the simulator this script started is
# stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-8}
seconds=${2:-10}
rate=${3:-20000}
symbols=${4:-BTCUSDT,ETHUSDT,SOLUSDT}

swift build -c release --product binance-sim >/dev/null
work=$(mktemp -d)
gcc -O2 -o "$work/sim-drain" Benchmarks/sim-drain/sim-drain.c

.build/release/binance-sim --usdm-port 0 --coinm-port 0 --ports-file "$work/ports.json" \
    --rate "$rate" --symbols "$symbols" --max-streams 1024 >"$work/sim.log" 2>&1 &
sim=$!
trap 'kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usdm"])' "$work/ports.json")

streams=""
for symbol in ${symbols//,/ }; do
    s=$(echo "$symbol" | tr 'A-Z' 'a-z')
    streams+="${streams:+/}$s@bookTicker/$s@aggTrade/$s@trade/$s@depth@100ms"
done

ticks() { awk '{print $14 + $15}' "/proc/$sim/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
result=$("$work/sim-drain" "$port" "$connections" "$seconds" "/public/stream?streams=$streams")
after=$(ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$sim/status")
python3 - "$result" "$before" "$after" "$hz" "$rss" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
print(json.dumps({
    "connections": result["connections"], "seconds": result["seconds"],
    "messages_per_second": result["messages_per_second"], "messages": result["messages"],
    "mbytes_per_second": round(result["bytes"] / result["seconds"] / 1e6, 1),
    "sim_cpu_cores": round(cpu / result["seconds"], 2), "sim_rss_mb": round(int(sys.argv[5]) / 1024),
}))
PY

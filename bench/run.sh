#!/usr/bin/env bash
# The end-to-end benchmark (bench/run.py says what it measures). Builds the release binaries
# and the C consumer, then runs (about 6 minutes with the defaults); results and plots in
# bench/out/<UTC time>/ (git-ignored).
#
#   bench/run.sh
#   BENCH_RATES="10000 50000" BENCH_SECONDS=10 bench/run.sh
#   BENCH_TASKSET="sim=0,consumer=0,bridge=1,redis=1" bench/run.sh    # pin processes to cores
#   BENCH_LONG_SECONDS=600 bench/run.sh                                 # plus 10 min at 50k msg/s (RSS growth)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_system_packages
dpkg -s python3-venv >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
if [ -z "${BENCH_BIN:-}" ]; then
    echo "==> building (release)"
    swift build -c release >/dev/null
fi
# cryptofeed 2.4.1 (and matplotlib for the plots) in a virtualenv kept beside the results.
venv=bench/out/venv
if ! "$venv/bin/python" -c 'import importlib.metadata as m, redis, matplotlib; assert m.version("cryptofeed") == "2.4.1"' 2>/dev/null; then
    echo "==> virtualenv with cryptofeed 2.4.1 in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q cryptofeed==2.4.1 redis matplotlib
fi
export BENCH_OUT="bench/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$BENCH_OUT"
"${CC:-cc}" -O2 -Wall -o "$BENCH_OUT/consumer" bench/consumer.c -lhiredis
timeout 2400 python3 bench/run.py
"$venv/bin/python" bench/plot.py "$BENCH_OUT/results.json" "$BENCH_OUT"
echo "==> $BENCH_OUT: results.json, latency.png, cpu.png"

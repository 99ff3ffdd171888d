#!/usr/bin/env bash
# Runs the ordo-one benchmarks against a throwaway loopback redis-server.
#   Benchmarks/run.sh [extra `swift package benchmark` arguments]
# e.g. Benchmarks/run.sh --filter 'XADD.*'  or  Benchmarks/run.sh baseline update
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_system_packages
start_throwaway_redis
trap stop_throwaway_redis EXIT
export BRIDGE_BENCH_REDIS_URL="$REDIS_URL"
cd Benchmarks
swift package --allow-writing-to-package-directory benchmark "$@"

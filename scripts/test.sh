#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, builds, starts a throwaway
# redis-server on a free 127.0.0.1 port (persistence off), exports its URL to the tests as
# BRIDGE_TEST_REDIS_URL, runs unit and integration tests, stops the server by PID.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter RedisClientTests).
# Without arguments, the fault matrix (bridge processes under faults) and then the
# order-book run over the simulator's market (CPU-bound: both cores for minutes in a debug
# build) run after the rest, each alone, so the timing-sensitive tests never share the
# machine with them: BOOK_SYNC_EVENTS diff events per gap rate (default
# 400,000, about 2.5 minutes; BOOK_SYNC_EVENTS=1000000 is the issue's full million, about
# 6 minutes on a quiet 2-core machine).
#
# Swift Testing runs every test at once by default; on a slow 2-core machine the timing
# assertions of ~60 tests then fail together (seen on 2026-12-02 with the code that passed CI
# the day before). At most 6 at a time (SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH,
# overridable) passed all 306 there in 63 s.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-6}"
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_system_packages
ensure_python_jsonschema
ensure_python_redis

# docker-compose.yml and the Dockerfile (no Docker engine needed).
scripts/validate-containers.sh

echo "==> building"
swift build --build-tests

start_throwaway_redis
status=0
cleanup() {
    if [ "$status" -ne 0 ]; then stop_throwaway_redis show-log; else stop_throwaway_redis; fi
}
trap cleanup EXIT

export BRIDGE_TEST_REDIS_URL="$REDIS_URL"
echo "==> swift test (BRIDGE_TEST_REDIS_URL=$BRIDGE_TEST_REDIS_URL)"
if [ "$#" -gt 0 ]; then
    swift test --skip-build "$@" || status=$?
    exit "$status"
fi
swift test --skip-build --skip 'BookSyncSimulationTests|FaultMatrixTests|SoakTests' || status=$?
if [ "$status" -eq 0 ]; then
    # The fault matrix runs bridge processes, a simulator and Redis servers for about 3
    # minutes: alone, so the pool's timing tests never share the machine with it.
    echo "==> fault matrix (the bridge process under faults)"
    swift test --skip-build --filter FaultMatrixTests || status=$?
fi
if [ "$status" -eq 0 ]; then
    # Two minutes of steady load with a fault every 15 s (scripts/soak.sh: the long run).
    echo "==> soak (SOAK_SECONDS=${SOAK_SECONDS:-120})"
    swift test --skip-build --filter SoakTests || status=$?
fi
if [ "$status" -eq 0 ]; then
    echo "==> order books over the simulator's market (BOOK_SYNC_EVENTS=${BOOK_SYNC_EVENTS:-400000})"
    BOOK_SYNC_EVENTS="${BOOK_SYNC_EVENTS:-400000}" swift test --skip-build --filter BookSyncSimulationTests || status=$?
fi
exit "$status"

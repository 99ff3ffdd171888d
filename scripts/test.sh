#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, builds, starts a throwaway
# redis-server on a free 127.0.0.1 port (persistence off), exports its URL to the tests as
# BRIDGE_TEST_REDIS_URL, runs unit and integration tests, stops the server by PID.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter RedisClientTests).
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
swift test --skip-build "$@" || status=$?
exit "$status"

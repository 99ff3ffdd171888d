#!/usr/bin/env bash
# The long soak: the bridge process under steady load for SOAK_SECONDS with a fault every
# SOAK_FAULT_EVERY_S in rotation, its RSS sampled before each; every message accounted for
# as it goes (Tests/BridgeTests/SoakTests.swift, LiveAccounting). CI runs the 2-minute version
# in scripts/test.sh, in the debug build.
#
#   scripts/soak.sh                                   # 30 minutes, 32,000 actions/s (~21.5k msg/s on its 24 streams), a fault a minute
#   SOAK_SECONDS=600 SOAK_RATE=5000 scripts/soak.sh
#   SOAK_BUILD=debug scripts/soak.sh                  # the debug build (keep SOAK_RATE ≤ 3,000 there)
#
# The release build (default) goes into .build-soak with -enable-testing, so the test
# target's `@testable import`s compile; the bridge binary the test starts is the one beside
# the test bundle, i.e. the release one too.
#
# Bounded: the test's own time limit is 60 minutes; the Redis it uses is a throwaway one on a
# free 127.0.0.1 port, stopped by PID at the end. Memory: the accounting holds a 10 s window
# of the log and 20,000 entries per stream behind it (peak 4.4 GB in the 2026-12-08 30-minute
# run, with its final catch-up of 246 s) and trims the checked entries from Redis; the
# ground-truth log grows on disk (about 250 bytes a message: ≈ 10 GB for 30 minutes) and is
# deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export SOAK_SECONDS="${SOAK_SECONDS:-1800}"
export SOAK_RATE="${SOAK_RATE:-32000}"
export SOAK_FAULT_EVERY_S="${SOAK_FAULT_EVERY_S:-60}"
ensure_system_packages
if [ "${SOAK_BUILD:-release}" = release ]; then
    build=(-c release --scratch-path .build-soak -Xswiftc -enable-testing)
else
    build=()
fi
echo "==> building (${SOAK_BUILD:-release})"
swift build --build-tests "${build[@]}"
start_throwaway_redis
trap stop_throwaway_redis EXIT
export BRIDGE_TEST_REDIS_URL="$REDIS_URL"
echo "==> soak: ${SOAK_SECONDS} s at ${SOAK_RATE} actions/s, a fault every ${SOAK_FAULT_EVERY_S} s"
swift test --skip-build "${build[@]}" --filter SoakTests

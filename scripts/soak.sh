#!/usr/bin/env bash
# The long soak: the bridge process under steady load for SOAK_SECONDS with a fault every
# SOAK_FAULT_EVERY_S in rotation, its RSS sampled before each; every message accounted for at
# the end (Tests/BridgeTests/SoakTests.swift). CI runs the 2-minute version in scripts/test.sh.
#
#   scripts/soak.sh                       # 30 minutes, 2,000 exchange actions/s, a fault a minute
#   SOAK_SECONDS=600 SOAK_RATE=5000 scripts/soak.sh
#
# Bounded: the test's own time limit is 60 minutes; the Redis it uses is the throwaway one
# scripts/test.sh starts and stops. The accounting reads the whole ground-truth log into
# memory at the end (about 1 KB per message in the debug build), which bounds the rate ×
# duration this can check.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECONDS="${SOAK_SECONDS:-1800}"
export SOAK_RATE="${SOAK_RATE:-2000}"
export SOAK_FAULT_EVERY_S="${SOAK_FAULT_EVERY_S:-60}"
echo "==> soak: ${SOAK_SECONDS} s at ${SOAK_RATE} actions/s, a fault every ${SOAK_FAULT_EVERY_S} s"
exec bash scripts/test.sh --filter SoakTests

#!/usr/bin/env bash
# Checks the ordo-one benchmarks against the thresholds stored for this Swift version, so a
# regression fails (exit 1); tolerances are in Sources/BenchTolerances. Thresholds live in
# Benchmarks/Thresholds/<Swift version>/ (one JSON file per benchmark, p-values of each
# metric), because a new compiler moves the figures by itself.
#
#   Benchmarks/check-thresholds.sh            # check (exit 0: equal or better; 1: regression or no thresholds)
#   Benchmarks/check-thresholds.sh update     # store this machine's figures as the thresholds
#
# Wall-clock thresholds are only meaningful on the machine kind they were stored on (the
# 2-core VM, see README.md); allocation counts hold anywhere.
set -euo pipefail
cd "$(dirname "$0")"
version=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -1)
path="Thresholds/$version"
if [ "${1:-}" = update ]; then
    mkdir -p "$path"
    ./run.sh thresholds update --path "$PWD/$path" --no-progress
    # package-benchmark 1.38.1 writes `Target.name_with_underscores.p90.json` but `thresholds
    # check` opens `Target.name with spaces.p90.json`: store them under the name check reads
    # (our benchmark names have no underscores or slashes of their own).
    for file in "$path"/*_*.p90.json; do
        [ -e "$file" ] || continue
        mv -f "$file" "$(dirname "$file")/$(basename "$file" | tr '_' ' ')"
    done
    exit 0
fi
if [ ! -d "$path" ]; then
    echo "no thresholds for Swift $version in Benchmarks/$path: run '$0 update' on the reference machine first" >&2
    exit 1
fi
set +e
./run.sh thresholds check --path "$PWD/$path" --no-progress
status=$?
set -e
# package-benchmark: 0 equal within tolerance, 2 regressions, 4 improvements only.
case $status in
    0) echo "benchmarks within the Swift $version thresholds" ;;
    4) echo "benchmarks within the Swift $version thresholds (some improved: consider '$0 update')" ;;
    *) echo "benchmark regression against Benchmarks/$path (exit $status)" >&2; exit 1 ;;
esac

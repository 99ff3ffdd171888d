#!/usr/bin/env bash
# Side-by-side runs of two builds of the Normalize benchmark: /tmp/Normalize.old and
# /tmp/Normalize.new (or $OLD / $NEW), alternated ROUNDS times in one sitting, so the VM's
# drift hits both alike. Prints p0 and p50 per message (µs) for each benchmark and run.
# Usage: ab-normalize.sh [FILTER-REGEX] [ROUNDS]   e.g. ab-normalize.sh 'normalize depth.*' 4
set -euo pipefail
filter=${1:-normalize.*}
rounds=${2:-3}
old=${OLD:-/tmp/Normalize.old}
new=${NEW:-/tmp/Normalize.new}
cd "$(dirname "$0")/.build/release"   # beside libMallocInterposerSwift.so
for _ in $(seq 1 "$rounds"); do
    for variant in old new; do
        binary=$old; [ "$variant" = new ] && binary=$new
        cp "$binary" ./ab-binary
        ./ab-binary --filter "$filter" 2>&1 | awk -v v="$variant" '
            /results for/ { name = $4 " " $5 }
            /^Time \(wall clock\)/ { w = 1; next }
            w && /^ *[0-9]/ { if (p0 == "") p0 = $1; if ($2 + 0 >= 0.5 && p50 == "") p50 = $1 }
            w && /Mean/ { printf "%-4s %-24s p0=%.3f p50=%.3f us/msg\n", v, name, p0 / 1e6, p50 / 1e6; w = 0; p0 = ""; p50 = "" }'
        rm -f ./ab-binary
    done
done

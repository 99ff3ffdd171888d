#!/usr/bin/env bash
# Pipelined XADD: RedisClient vs redis-benchmark, side by side in one run, same Redis, same
# payload (a 13-field agg_trade entry, MAXLEN ~ 100000), same pipeline depth, one connection.
#
#   Benchmarks/xadd-compare.sh [depth=64] [count=200000] [rounds=5]
#
# Starts its own throwaway redis-server on loopback, alternates the two clients `rounds` times
# (so drift on a noisy machine hits both), prints each run and the median ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
depth=${1:-64}
count=${2:-200000}
rounds=${3:-5}

ensure_system_packages
(cd Benchmarks && swift build -c release --product xadd-throughput >/dev/null)
tool=Benchmarks/.build/release/xadd-throughput

start_throwaway_redis
trap stop_throwaway_redis EXIT

read -r -a rb_args <<<"$("$tool" --redis-benchmark-args bench:xadd:rb)"
ours=()
theirs=()
for round in $(seq 1 "$rounds"); do
    json=$("$tool" "$REDIS_URL" "$depth" "$count" bench:xadd:swift)
    rate=$(sed -E 's/.*"rate":([0-9]+).*/\1/' <<<"$json")
    ours+=("$rate")
    redis-cli -p "$REDIS_PORT" DEL bench:xadd:rb >/dev/null
    csv=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 1 -P "$depth" -n "$count" --csv "${rb_args[@]}" | tail -n 1)
    rb=$(awk -F'","' '{print $2}' <<<"$csv" | tr -d '"' | cut -d. -f1)
    theirs+=("$rb")
    redis-cli -p "$REDIS_PORT" DEL bench:xadd:rb >/dev/null
    echo "round $round: RedisClient ${rate}/s   redis-benchmark ${rb}/s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_ours=$(median "${ours[@]}")
m_theirs=$(median "${theirs[@]}")
ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN {printf "%.2f", a/b}')
echo "median: RedisClient ${m_ours} entries/s, redis-benchmark ${m_theirs} entries/s, ratio ${ratio} (depth ${depth}, ${count} entries, ${rounds} rounds)"

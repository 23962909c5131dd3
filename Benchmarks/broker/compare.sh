#!/usr/bin/env bash
# Side-by-side broker benchmark: nats-server (Debian, the reference) and strata-server (release build),
# same machine, same load generator (nats-bench, on the C client libnats), same run, each order once.
# Prints a markdown table of geometric means.
# Usage: Benchmarks/broker/compare.sh [count]     (from the repository root; needs libnats-dev, nats-server)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-1000000}
REQS=${REQS:-20000}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-bench
BENCH=.build/bench/nats-bench

start() {  # name port -> pid
  if [ "$1" = nats-server ]; then nats-server -a 127.0.0.1 -p "$2" >/dev/null 2>&1 & else .build/release/strata-server -a 127.0.0.1 -p "$2" ${STRATA_FLAGS:-} >/dev/null 2>&1 & fi
  echo $!
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

echo "| scenario | nats-server 2.9.10 | strata | strata ÷ nats-server |"
echo "|---|---:|---:|---:|"
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
gmean() { awk '{s += log($1); n++} END {printf "%.0f", exp(s / n)}'; }
# Each scenario runs each server once in each order (nats-server, strata, strata, nats-server): whichever
# runs first tends to look faster here. Figures are geometric means of the two runs.
run() {  # label args...
  local label=$1; shift
  local -A out=([nats-server]="" [strata]="")
  local server
  for server in nats-server strata strata nats-server; do
    local port=$((24000 + RANDOM % 2000))
    local pid; pid=$(start $server $port)
    wait_port $port
    out[$server]+="$($BENCH nats://127.0.0.1:$port "$@" || true)"$'\n'
    kill $pid; wait $pid 2>/dev/null || true
  done
  local fields=(delivery_rate)
  [ "$1" = reqrep ] && fields=(p50_us p99_us)
  local f
  for f in "${fields[@]}"; do
    local a; a=$(echo -n "${out[nats-server]}" | while read -r line; do field "$line" $f; done | gmean)
    local b; b=$(echo -n "${out[strata]}" | while read -r line; do field "$line" $f; done | gmean)
    local name="$label $f"
    if [ $f = delivery_rate ]; then
      local lost=0 line
      while read -r line; do [ -n "$line" ] && lost=$((lost + $(field "$line" lost))); done <<< "${out[nats-server]}${out[strata]}"
      name="$label msgs/s delivered (lost: $lost)"
    fi
    echo "| $name | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
  done
}
run "pub→sub 16 B" pubsub 16 $COUNT
run "pub→sub 256 B" pubsub 256 $COUNT
run "fan-out ×8, 256 B" fanout 256 $((COUNT / 4))
run "queue group of 4, 256 B" queue 256 $COUNT
run "request/reply 16 B" reqrep 16 $REQS

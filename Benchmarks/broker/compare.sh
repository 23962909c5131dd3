#!/usr/bin/env bash
# Side-by-side broker benchmark: nats-server (Debian, the reference) and strata-server (release build),
# same machine, same load generator (nats-bench, on the C client libnats), same run. Prints a markdown table.
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
run() {  # label args...
  local label=$1; shift
  local results=()
  for server in nats-server strata; do
    local port=$((24000 + RANDOM % 2000))
    local pid; pid=$(start $server $port)
    wait_port $port
    results+=("$($BENCH nats://127.0.0.1:$port "$@" || true)")
    kill $pid; wait $pid 2>/dev/null || true
  done
  field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
  if [ "$1" = reqrep ]; then
    for f in p50_us p99_us; do
      local a; a=$(field "${results[0]}" $f); local b; b=$(field "${results[1]}" $f)
      echo "| $label $f | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
    done
  else
    local a; a=$(field "${results[0]}" delivery_rate); local b; b=$(field "${results[1]}" delivery_rate)
    echo "| $label msgs/s delivered (lost: $(field "${results[0]}" lost) / $(field "${results[1]}" lost)) | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
  fi
}
run "pub→sub 16 B" pubsub 16 $COUNT
run "pub→sub 256 B" pubsub 256 $COUNT
run "fan-out ×8, 256 B" fanout 256 $((COUNT / 4))
run "queue group of 4, 256 B" queue 256 $COUNT
run "request/reply 16 B" reqrep 16 $REQS

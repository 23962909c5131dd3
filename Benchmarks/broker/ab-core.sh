#!/usr/bin/env bash
# Two strata-server binaries against each other on the core paths (nats-bench, C client): pub→sub 16 B and
# 256 B, fan-out ×8 and a queue group of 4, in A B B A order over `rounds` rounds. Prints the ratios of
# geometric means B / A per scenario.
# Usage: Benchmarks/broker/ab-core.sh A_BINARY B_BINARY [count] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2; COUNT=${3:-1000000}; ROUNDS=${4:-2}
STRATA_PREBUILT=1
source Benchmarks/broker/lib.sh
prepare_c_bench nats-bench
results=$(mktemp)
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
run() {  # label binary scenario size count
  local port=$((24000 + RANDOM % 2000))
  "$2" -a 127.0.0.1 -p $port >/dev/null 2>&1 & local pid=$!
  wait_port $port
  local out; out=$(.build/bench/nats-bench nats://127.0.0.1:$port "$3" "$4" "$5")
  kill $pid; wait $pid 2>/dev/null || true
  echo "$1 $3-$4 $out" >> "$results"
}
for round in $(seq "$ROUNDS"); do
  for label in A B B A; do
    binary=$A; [ $label = B ] && binary=$B
    run $label "$binary" pubsub 16 $COUNT
    run $label "$binary" pubsub 256 $COUNT
    run $label "$binary" fanout 256 $((COUNT / 4))
    run $label "$binary" queue 256 $COUNT
  done
done
python3 - "$results" <<'PY'
import math, re, sys
rates = {}
for line in open(sys.argv[1]):
    label, scenario = line.split()[:2]
    rate = float(re.search(r"delivery_rate=(\d+)", line).group(1))
    rates.setdefault(scenario, {}).setdefault(label, []).append(rate)
gmean = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
print("| scenario | A msgs/s | B msgs/s | B ÷ A |")
print("|---|---:|---:|---:|")
for scenario, by in rates.items():
    a, b = gmean(by["A"]), gmean(by["B"])
    print(f"| {scenario} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
PY

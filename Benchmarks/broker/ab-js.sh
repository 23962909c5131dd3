#!/usr/bin/env bash
# Two strata-server binaries against each other (a change and the commit before it): JetStream publishing,
# sync and async, and with AB_CONSUME=1 pull and push consuming with acks too (nats-jsbench, C client), in
# A B B A order over `rounds` rounds, so that neither always runs first. Prints msgs/s per run and the ratios
# of geometric means B / A.
# Usage: Benchmarks/broker/ab-js.sh A_BINARY B_BINARY [count] [size] [window] [sync_count] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2
COUNT=${3:-100000}; SIZE=${4:-256}; WINDOW=${5:-256}; SYNC_COUNT=${6:-2000}; ROUNDS=${7:-2}
STRATA_PREBUILT=1
source Benchmarks/broker/lib.sh
prepare_c_bench nats-jsbench
results=$(mktemp)
run() {  # label binary
  start_server "$2"
  local only=(JSBENCH_PUBLISH_ONLY=1); [ -n "${AB_CONSUME:-}" ] && only=()
  local out; out=$(env JSBENCH_WINDOW=$WINDOW "${only[@]}" .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT $SYNC_COUNT)
  stop_server
  echo "$1: $out"
  echo "$1 $out" >> "$results"
}
for round in $(seq "$ROUNDS"); do
  run A "$A"; run B "$B"; run B "$B"; run A "$A"
done
python3 - "$results" <<'PY'
import math, re, sys
rates = {}
for line in open(sys.argv[1]):
    label = line.split()[0]
    rates.setdefault(label, []).append({k: float(v) for k, v in re.findall(r"(publish_sync|publish_async|pull_consume|push_consume)=(\d+)", line)})
def gmean(xs): return math.exp(sum(math.log(x) for x in xs) / len(xs))
for kind in rates["A"][0]:
    print(f"B / A: {kind} {gmean([r[kind] for r in rates['B']]) / gmean([r[kind] for r in rates['A']]):.2f}x")
PY
rm -f "$results"

#!/usr/bin/env bash
# Two strata-server binaries against each other (a change and the commit before it): JetStream publishing,
# sync and async (nats-jsbench, C client), A B B A order over `rounds` rounds, so that neither always runs
# first. Prints msgs/s per run and the ratios of geometric means B / A.
# Usage: Benchmarks/broker/ab-publish.sh A_BINARY B_BINARY [count] [size] [window] [sync_count] [rounds]
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
  local out; out=$(JSBENCH_WINDOW=$WINDOW JSBENCH_PUBLISH_ONLY=1 .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT $SYNC_COUNT)
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
    m = dict(re.findall(r"(publish_sync|publish_async)=(\d+)", line))
    rates.setdefault(label, []).append((float(m["publish_sync"]), float(m["publish_async"])))
def gmean(xs): return math.exp(sum(math.log(x) for x in xs) / len(xs))
for i, kind in enumerate(["publish sync", "publish async"]):
    print(f"B / A: {kind} {gmean([r[i] for r in rates['B']]) / gmean([r[i] for r in rates['A']]):.2f}x")
PY
rm -f "$results"

#!/usr/bin/env bash
# JetStream publishing alone, side by side: nats-server 2.9.10 (never fsyncs), strata with its default
# sync-before-ack (pipelined syncs), strata with --js_sync none; then the same in the reverse order. Each run:
# a fresh file stream, `sync_count` synchronous publishes, then `count` asynchronous ones with `window` in
# flight (nats-jsbench, C client). Prints msgs/s per run and the ratios of geometric means to nats-server.
# Usage: Benchmarks/broker/compare-publish.sh [count] [size] [window] [sync_count]   (from the repository root)
#   e.g. compare-publish.sh 200000 256 2048     compare-publish.sh 20000 16384 256
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-200000}
SIZE=${2:-256}
WINDOW=${3:-256}
SYNC_COUNT=${4:-2000}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-jsbench
results=$(mktemp)
run() {  # label command...
  local label=$1; shift
  start_server "$@"
  local out; out=$(JSBENCH_WINDOW=$WINDOW JSBENCH_PUBLISH_ONLY=1 .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT $SYNC_COUNT)
  stop_server
  echo "$label: $out"
  echo "$label $out" >> "$results"
}
order=("nats-server|nats-server" "strata (sync always)|.build/release/strata-server" "strata (sync none)|.build/release/strata-server --js_sync none")
for pass in forward reverse; do
  if [ $pass = reverse ]; then order=("${order[2]}" "${order[1]}" "${order[0]}"); fi
  for entry in "${order[@]}"; do run "${entry%%|*}" ${entry#*|}; done
done
python3 - "$results" <<'EOF'
import math, re, sys
rates = {}
for line in open(sys.argv[1]):
    label = line.split(" size=")[0]
    m = dict(re.findall(r"(publish_sync|publish_async)=(\d+)", line))
    rates.setdefault(label, []).append((float(m["publish_sync"]), float(m["publish_async"])))
def gmean(xs): return math.exp(sum(math.log(x) for x in xs) / len(xs))
ref = rates["nats-server"]
for label, runs in rates.items():
    if label == "nats-server": continue
    sync = gmean([r[0] for r in runs]) / gmean([r[0] for r in ref])
    asyn = gmean([r[1] for r in runs]) / gmean([r[1] for r in ref])
    print(f"{label} / nats-server: publish sync {sync:.2f}x, publish async {asyn:.2f}x")
EOF
rm -f "$results"

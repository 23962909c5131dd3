#!/usr/bin/env bash
# KV gets side by side: nats-server 2.9.10, then strata-server, then the reverse order. Each run: a fresh
# bucket of `keys` keys of `size` bytes, then `gets` kvStore_Get of random keys over `threads` connections
# (nats-kvbench, C client). Prints gets/s per run and the ratio of geometric means.
# Usage: Benchmarks/broker/compare-kv.sh [keys] [gets] [threads] [size]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
KEYS=${1:-10000}
GETS=${2:-200000}
THREADS=${3:-4}
SIZE=${4:-256}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-kvbench
results=$(mktemp)
run() {  # label command...
  local label=$1; shift
  start_server "$@"
  local out; out=$(.build/bench/nats-kvbench nats://127.0.0.1:$SERVER_PORT $KEYS $GETS $THREADS $SIZE)
  stop_server
  echo "$label: $out"
  echo "$label $out" >> "$results"
}
for order in forward reverse; do
  if [ $order = forward ]; then run nats-server nats-server; run strata .build/release/strata-server
  else run strata .build/release/strata-server; run nats-server nats-server; fi
done
python3 - "$results" <<'PY'
import math, re, sys
rates = {}
for line in open(sys.argv[1]):
    label = line.split(" keys=")[0]
    rates.setdefault(label, []).append(float(re.search(r"rate=(\d+)", line).group(1)))
mean = {k: math.exp(sum(map(math.log, v)) / len(v)) for k, v in rates.items()}
print(f"strata / nats-server: KV gets {mean['strata'] / mean['nats-server']:.2f}x")
PY
rm -f "$results"

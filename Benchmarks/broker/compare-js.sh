#!/usr/bin/env bash
# JetStream side by side: nats-server 2.9.10 (never fsyncs JetStream writes) and strata-server with its
# default sync-before-ack, then strata with --js_sync none; same load generator (nats-jsbench, C client).
# Then the work-queue workload (pull consume with explicit acks on a work-queue stream), each order once,
# and a pull consumer filtered to one subject of ten (JSBENCH_SPREAD, JSBENCH_FILTER), each order once.
# Usage: Benchmarks/broker/compare-js.sh [count] [size]      (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-20000}
SIZE=${2:-256}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-jsbench
run() {  # label command...
  local label=$1; shift
  start_server "$@"
  local out; out=$(env $JSBENCH_ENV .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT $SYNC_COUNT)
  kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true
  echo "$label: $out disk_kib=$(du -sk "$SERVER_DIR" | cut -f1)"
  stop_server
}
JSBENCH_ENV="" SYNC_COUNT=$COUNT
run "nats-server 2.9.10 (no fsync)" nats-server
run "strata (sync always)" .build/release/strata-server
run "strata (sync none)" .build/release/strata-server --js_sync none
JSBENCH_ENV="JSBENCH_WORKQUEUE=1" SYNC_COUNT=1000
run "work queue: nats-server 2.9.10" nats-server
run "work queue: strata (sync always)" .build/release/strata-server
run "work queue: strata (sync always)" .build/release/strata-server
run "work queue: nats-server 2.9.10" nats-server
JSBENCH_ENV="JSBENCH_SKIP_PUSH=1 JSBENCH_SPREAD=10 JSBENCH_FILTER=1" SYNC_COUNT=10
run "filtered pull (1 subject of 10): nats-server 2.9.10" nats-server
run "filtered pull (1 subject of 10): strata (sync always)" .build/release/strata-server
run "filtered pull (1 subject of 10): strata (sync always)" .build/release/strata-server
run "filtered pull (1 subject of 10): nats-server 2.9.10" nats-server

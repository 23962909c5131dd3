#!/usr/bin/env bash
# Bounded disk under retention, side by side: reclaim.py's load (a capped limits stream and a drained work
# queue) against strata-server (sync always) and nats-server 2.9.10, each order once (the first server
# to run tends to look faster here). Prints each server's store size per quarter, what is left in the
# work queue, and the work-queue consume rate.
# Usage: Benchmarks/broker/reclaim.sh [total]      (from the repository root; default 2,000,000)
set -euo pipefail
cd "$(dirname "$0")/../.."
TOTAL=${1:-2000000}
PY=.build-py/bin/python
swift build -c release --product strata-server >/dev/null
source Benchmarks/broker/lib.sh
run() {  # name, command...
  local name=$1; shift
  start_server "$@"
  echo "== $name"
  $PY Benchmarks/broker/reclaim.py nats://127.0.0.1:$SERVER_PORT "$SERVER_DIR" "$TOTAL" || echo "$name: load failed"
  echo "rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)"
  stop_server
}
run nats-server nats-server
run strata .build/release/strata-server
run strata .build/release/strata-server
run nats-server nats-server

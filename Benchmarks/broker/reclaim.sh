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
run() {  # name, command...
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  local port=$((29000 + RANDOM % 2000))
  "$@" -a 127.0.0.1 -p $port -js -sd "$dir" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  echo "== $name"
  $PY Benchmarks/broker/reclaim.py nats://127.0.0.1:$port "$dir" "$TOTAL" || echo "$name: load failed"
  echo "rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
}
run nats-server nats-server
run strata .build/release/strata-server
run strata .build/release/strata-server
run nats-server nats-server

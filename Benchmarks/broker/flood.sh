#!/usr/bin/env bash
# Backpressure soak: nats-flood (a C publisher that never waits: core publishes into a stream, no acks)
# against strata-server (sync always) and nats-server 2.9.10, each order once; the server's RSS and its
# anonymous part (RssAnon: Strata's RSS also holds the mapped pages of its LMDB index) are sampled every
# 0.2 s. A server that buffers whatever the socket brings grows with the flood; one that
# stops reading while its store is behind stays flat.
# Usage: Benchmarks/broker/flood.sh [count] [size]      (from the repository root; default 2,000,000 × 1 KiB)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-2000000}
SIZE=${2:-1024}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-flood
run() {  # label command...
  local label=$1; shift
  start_server "$@"
  local pid=$SERVER_PID
  local samples; samples=$(mktemp)
  ( while kill -0 $pid 2>/dev/null; do awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} END {print r, a}' /proc/$pid/status >> "$samples" 2>/dev/null; sleep 0.2; done ) &
  local sampler=$!
  local out; out=$(.build/bench/nats-flood nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT || echo "FAILED")
  local peak; peak=$(cut -d' ' -f1 "$samples" | sort -n | tail -1)
  local anon; anon=$(cut -d' ' -f2 "$samples" | sort -n | tail -1)
  local last; last=$(tail -1 "$samples" | cut -d' ' -f1)
  stop_server
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null || true
  echo "$label: $out rss_peak_kib=$peak rss_anon_peak_kib=$anon rss_end_kib=$last"
  rm -f "$samples"
}
run "nats-server 2.9.10" nats-server
run "strata (sync always)" .build/release/strata-server
run "strata (sync always)" .build/release/strata-server
run "nats-server 2.9.10" nats-server

#!/usr/bin/env bash
# Every consumer kind side by side: nats-server 2.9.10 (never fsyncs) and strata-server (sync always).
# For each of pull/push × explicit/all acks × the four filter kinds of nats-consumerbench (none, one subject
# of 10, a wildcard over 10 subjects of 100, one subject of 10,000), each server runs once in each order.
# Prints one line per run and, per kind, the ratio of the geometric means (Strata / nats-server).
# Usage: Benchmarks/broker/compare-consumers.sh [count] [size] [kinds...]   (from the repository root)
#   kinds default to all, e.g. "pull:explicit:one push:all:none"
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-100000}
SIZE=${2:-256}
shift $(( $# > 2 ? 2 : $# ))
KINDS=${*:-}
if [ -z "$KINDS" ]; then
  for c in pull push; do for a in explicit all; do for f in none one wildcard sparse; do KINDS="$KINDS $c:$a:$f"; done; done; done
fi
source Benchmarks/broker/lib.sh
prepare_c_bench nats-consumerbench
rate_of() {  # label kind command... → prints the run's line, sets RATE
  local label=$1 kind=$2; shift 2
  start_server "$@"
  local out; out=$(.build/bench/nats-consumerbench nats://127.0.0.1:$SERVER_PORT $SIZE $COUNT ${kind//:/ }) || true
  stop_server
  echo "  $label: $out" >&2
  RATE=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
  RATE=${RATE:-0}
}
printf '%-24s %12s %12s %7s\n' kind nats-server strata ratio
for kind in $KINDS; do
  rate_of nats-server $kind nats-server; r1=$RATE
  rate_of strata $kind .build/release/strata-server; s1=$RATE
  rate_of strata $kind .build/release/strata-server; s2=$RATE
  rate_of nats-server $kind nats-server; r2=$RATE
  awk -v k=$kind -v r1=$r1 -v r2=$r2 -v s1=$s1 -v s2=$s2 'BEGIN {
    r = sqrt(r1 * r2); s = sqrt(s1 * s2);
    printf "%-24s %12.0f %12.0f %7.2f\n", k, r, s, (r > 0 ? s / r : 0) }'
done

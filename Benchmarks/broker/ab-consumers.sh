#!/usr/bin/env bash
# Two strata-server binaries against each other (a change and the commit before it) on the JetStream paths a
# store change moves: async publish, a work queue consumed with acks (each ack a removal), and the consumer
# kinds of nats-consumerbench. A B B A per workload, so that neither always runs first; prints each run and
# the ratio of geometric means B / A.
# Usage: Benchmarks/broker/ab-consumers.sh A_BINARY B_BINARY [count] [workloads...]   (from the repository root)
#   workloads: publish, workqueue, or consumer:ack:filter as nats-consumerbench takes them (pull:explicit:one);
#   the default is publish workqueue pull:explicit:one pull:explicit:sparse push:all:wildcard pull:explicit:none
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2
COUNT=${3:-200000}
shift $(( $# > 3 ? 3 : $# ))
WORKLOADS=${*:-publish workqueue pull:explicit:one pull:explicit:sparse push:all:wildcard pull:explicit:none}
STRATA_PREBUILT=1
source Benchmarks/broker/lib.sh
prepare_c_bench nats-jsbench nats-consumerbench
run() {  # label binary workload → prints the run, sets R
  local label=$1 binary=$2 workload=$3 out
  start_server "$binary"
  case $workload in
    publish) out=$(JSBENCH_WINDOW=256 JSBENCH_PUBLISH_ONLY=1 .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT 256 $COUNT 100 2>&1 | tail -1) || true
             R=$(sed -n 's/.*publish_async=\([0-9]*\).*/\1/p' <<<"$out");;
    workqueue) out=$(JSBENCH_WINDOW=256 JSBENCH_WORKQUEUE=1 .build/bench/nats-jsbench nats://127.0.0.1:$SERVER_PORT 256 $COUNT 100 2>&1 | tail -1) || true
               R=$(sed -n 's/.*workqueue_consume=\([0-9]*\).*/\1/p' <<<"$out");;
    *) out=$(.build/bench/nats-consumerbench nats://127.0.0.1:$SERVER_PORT 256 $COUNT ${workload//:/ } 2>&1 | tail -1) || true
       R=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out");;
  esac
  stop_server
  echo "  $label $workload: $out" >&2
  R=${R:-0}
}
for workload in $WORKLOADS; do
  run A "$A" $workload; a1=$R; run B "$B" $workload; b1=$R; run B "$B" $workload; b2=$R; run A "$A" $workload; a2=$R
  awk -v w=$workload -v a1=$a1 -v a2=$a2 -v b1=$b1 -v b2=$b2 'BEGIN {
    a = sqrt(a1 * a2); b = sqrt(b1 * b2); printf "%-24s A %9.0f B %9.0f B/A %.2f\n", w, a, b, (a > 0 ? b / a : 0) }'
done

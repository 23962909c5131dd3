#!/usr/bin/env bash
# Memory with many streams and consumers, side by side (many-streams.py curve): N file streams with C durable
# pull consumers and M messages of 256 B each, created through nats-py against strata-server (sync always)
# and nats-server 2.9.10, each order once; RSS and open files after every STEP streams.
# Usage: Benchmarks/broker/memory-curve.sh [streams] [consumers_each] [messages_each] [step]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000}
C=${2:-10}
M=${3:-10}
STEP=${4:-100}
PY=.build-py/bin/python
swift build -c release --product strata-server >/dev/null
source Benchmarks/broker/lib.sh
run() {  # name, command...
  local name=$1; shift
  start_server "$@"
  echo "== $name"
  $PY Benchmarks/broker/many-streams.py curve nats://127.0.0.1:$SERVER_PORT $SERVER_PID $N $C $M $STEP
  stop_server
}
run nats-server nats-server
run strata .build/release/strata-server
run strata .build/release/strata-server
run nats-server nats-server

#!/usr/bin/env bash
# Many small streams side by side (many-streams.py): strata-server (sync always) and nats-server 2.9.10,
# each order once; after the load each server is stopped and started again on its store, and the time
# until it lists every stream is printed.
# Usage: Benchmarks/broker/many-streams.sh [streams] [messages_each]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-300}
M=${2:-100}
PY=.build-py/bin/python
swift build -c release --product strata-server >/dev/null
source Benchmarks/broker/lib.sh
run() {  # name, command...
  local name=$1; shift
  start_server "$@"
  echo "$name: $($PY Benchmarks/broker/many-streams.py nats://127.0.0.1:$SERVER_PORT "$SERVER_DIR" $SERVER_PID $N $M)"
  kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true
  "$@" -a 127.0.0.1 -p $SERVER_PORT -js -sd "$SERVER_DIR" >/dev/null 2>&1 &
  SERVER_PID=$!
  echo "$name restart: $($PY Benchmarks/broker/many-streams.py ready nats://127.0.0.1:$SERVER_PORT $N)"
  stop_server
}
run nats-server nats-server
run strata .build/release/strata-server
run strata .build/release/strata-server
run nats-server nats-server

#!/usr/bin/env bash
# Many streams within a small open-file limit, side by side: each server runs under `ulimit -n FILES` (soft and
# hard alike, so neither can raise it), nats-py creates N file streams with one durable pull consumer and M
# messages of 256 B each (CONCURRENCY at a time); the server is stopped (SIGTERM) and started again on its store
# under the same limit, timed until JetStream lists all N streams, and then every stream's info is read and a
# sample of consumers fetches a message. strata-server (sync always) and nats-server 2.9.10, each order once.
# Usage: Benchmarks/broker/streams-at-scale.sh [streams] [messages_each] [files] [concurrency]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
M=${2:-1}
FILES=${3:-1024}
C=${4:-16}
PY=.build-py/bin/python
[ -n "${STRATA_PREBUILT:-}" ] || swift build -c release --product strata-server >/dev/null
# (bash -c execs the server, so $! is the server's pid)
limited=(bash -c "ulimit -n $FILES && exec \"\$@\"" limited)
run() {  # name, command...
  local name=$1; shift
  local dir port pid
  dir=$(mktemp -d); port=$((26000 + RANDOM % 5000))
  "${limited[@]}" "$@" -a 127.0.0.1 -p $port -js -sd "$dir" >"$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  local load created
  load=$($PY Benchmarks/broker/many-streams.py bulk nats://127.0.0.1:$port "$dir" $pid $N $M $C)
  echo "$name (ulimit -n $FILES): $load"
  created=$(( N - $(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$load") ))
  kill $pid; wait $pid 2>/dev/null || true
  "${limited[@]}" "$@" -a 127.0.0.1 -p $port -js -sd "$dir" >>"$dir.log" 2>&1 &
  pid=$!
  echo "$name restart: $($PY Benchmarks/broker/many-streams.py ready nats://127.0.0.1:$port $created) open_files=$(ls /proc/$pid/fd | wc -l)"
  echo "$name after restart: $($PY Benchmarks/broker/many-streams.py check nats://127.0.0.1:$port $pid $created)"
  kill $pid; wait $pid 2>/dev/null || true
  grep -m3 -i "too many open files" "$dir.log" | sed "s/^/$name log: /" || true
  rm -rf "$dir" "$dir.log"
}
run nats-server nats-server
run strata .build/release/strata-server
run strata .build/release/strata-server
run nats-server nats-server

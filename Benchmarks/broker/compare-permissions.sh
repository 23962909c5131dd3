#!/usr/bin/env bash
# What permissions cost on the core paths: each server open (no authorization) and with a user whose
# permissions allow the benchmark's subjects among allow and deny lists (publish and subscribe), same run,
# each order once. Prints a markdown table: per server, the permissioned rate ÷ the open rate.
# Usage: Benchmarks/broker/compare-permissions.sh [count]   (from the repository root; needs libnats-dev, nats-server)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-1000000}
REQS=${REQS:-20000}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-bench
BENCH=.build/bench/nats-bench
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cat > "$DIR/open.conf" <<'CONF'
listen: 127.0.0.1:@PORT@
CONF
cat > "$DIR/perms.conf" <<'CONF'
listen: 127.0.0.1:@PORT@
authorization { users = [ { user: bench, password: bench-pw, permissions {
  publish { allow: ["metrics.>", "bench.*", "_INBOX.>", "orders.*.new"], deny: ["bench.secret", "$JS.API.STREAM.DELETE.>"] }
  subscribe { allow: ["metrics.>", "bench.>", "_INBOX.>"], deny: ["bench.secret.>"] } } } ] }
CONF

start() {  # server conf port -> pid
  sed "s/@PORT@/$3/" "$DIR/$2.conf" > "$DIR/$2-$3.conf"
  if [ "$1" = nats-server ]; then nats-server -c "$DIR/$2-$3.conf" >/dev/null 2>&1 & else .build/release/strata-server -c "$DIR/$2-$3.conf" >/dev/null 2>&1 & fi
  echo $!
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
gmean() { awk '{s += log($1); n++} END {printf "%.0f", exp(s / n)}'; }

echo "| scenario | server | open | with permissions | permissions ÷ open |"
echo "|---|---|---:|---:|---:|"
run() {  # label args...
  local label=$1; shift
  local server
  for server in nats-server strata; do
    local -A out=([open]="" [perms]="")
    local conf
    for conf in open perms perms open; do
      local port=$((26000 + RANDOM % 2000))
      local pid; pid=$(start $server $conf $port)
      wait_port $port
      local url=nats://127.0.0.1:$port
      [ $conf = perms ] && url=nats://bench:bench-pw@127.0.0.1:$port
      out[$conf]+="$($BENCH $url "$@" || true)"$'\n'
      kill $pid; wait $pid 2>/dev/null || true
    done
    local f=delivery_rate
    [ "$1" = reqrep ] && f=p50_us
    local a; a=$(echo -n "${out[open]}" | while read -r line; do field "$line" $f; done | gmean)
    local b; b=$(echo -n "${out[perms]}" | while read -r line; do field "$line" $f; done | gmean)
    echo "| $label $f | $server | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
  done
}
run "pub→sub 16 B" pubsub 16 $COUNT
run "fan-out ×8, 256 B" fanout 256 $((COUNT / 4))
run "queue group of 4, 256 B" queue 256 $COUNT
run "request/reply 16 B" reqrep 16 $REQS

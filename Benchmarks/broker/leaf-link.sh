#!/usr/bin/env bash
# Messages per second across a leaf-node link (issue 14), same machine, same load generator (nats-leafbench, on
# the C client libnats), each kind once in each order (nats-server, strata, strata, nats-server). Two tables:
#   Strata as the leaf: a nats-server 2.9.10 hub, and as its leaf strata-server (release build) or nats-server;
#   Strata as the hub: a nats-server 2.9.10 leaf, and as its hub strata-server or nats-server.
#   hub → leaf: core messages published on the hub to a subscriber on the leaf
#   leaf → hub: the reverse
#   JetStream from the hub: asynchronous publishes (window 256) on the hub into a file stream on the leaf
#     (Strata syncs before each ack, nats-server 2.9.10 never syncs)
# Prints a markdown table of geometric means.
# Usage: Benchmarks/broker/leaf-link.sh [count] [size]   (from the repository root; STRATA_PREBUILT=1 skips the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-500000}
SIZE=${2:-128}
JSCOUNT=${JSCOUNT:-$((COUNT / 5))}
source Benchmarks/broker/lib.sh
prepare_c_bench nats-leafbench
BENCH=.build/bench/nats-leafbench
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_kind() {  # kind config -> pid
  if [ "$1" = nats-server ]; then nats-server -c "$2" >/dev/null 2>&1 & else .build/release/strata-server -c "$2" >/dev/null 2>&1 & fi
  echo $!
}

run_pair() {  # hub-kind leaf-kind -> prints three result lines
  local hub_kind=$1 kind=$2 dir; dir=$(mktemp -d)
  local hub_port=$((27000 + RANDOM % 1000)) leaf_port=$((28000 + RANDOM % 1000)) link_port=$((29000 + RANDOM % 1000))
  cat > "$dir/hub.conf" <<CONF
listen: 127.0.0.1:$hub_port
leafnodes { listen: 127.0.0.1:$link_port }
CONF
  cat > "$dir/leaf.conf" <<CONF
listen: 127.0.0.1:$leaf_port
server_name: bench-leaf
jetstream { store_dir: "$dir/js", domain: edge }
leafnodes { remotes = [ { urls: ["nats-leaf://127.0.0.1:$link_port"] } ] }
CONF
  local hub; hub=$(start_kind "$hub_kind" "$dir/hub.conf")
  wait_port $hub_port
  local leaf; leaf=$(start_kind "$kind" "$dir/leaf.conf")
  wait_port $leaf_port
  $BENCH cross nats://127.0.0.1:$hub_port nats://127.0.0.1:$leaf_port $SIZE $COUNT | sed 's/^/scenario=down /'
  $BENCH cross nats://127.0.0.1:$leaf_port nats://127.0.0.1:$hub_port $SIZE $COUNT | sed 's/^/scenario=up /'
  $BENCH jspub nats://127.0.0.1:$hub_port nats://127.0.0.1:$leaf_port $SIZE $JSCOUNT | sed 's/^/scenario=js /'
  kill $leaf $hub; wait $leaf $hub 2>/dev/null || true
  rm -rf "$dir"
}

field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
gmean() { awk '{s += log($1); n++} END {printf "%.0f", exp(s / n)}'; }
table() {  # role: leaf (strata or nats-server as the leaf of a nats-server hub) or hub (the reverse)
  local role=$1 kind
  local -A out=([nats-server]="" [strata]="")
  for kind in nats-server strata strata nats-server; do
    if [ $role = leaf ]; then out[$kind]+="$(run_pair nats-server $kind)"$'\n'; else out[$kind]+="$(run_pair $kind nats-server)"$'\n'; fi
  done
  echo
  echo "| across the leaf link, $SIZE B | nats-server 2.9.10 as $role | strata as $role | strata ÷ nats-server |"
  echo "|---|---:|---:|---:|"
  local scenario label a b lost line
  for scenario in down up js; do
    label=$(case $scenario in down) echo "hub → leaf, core ($COUNT msgs)";; up) echo "leaf → hub, core ($COUNT msgs)";; js) echo "hub → leaf stream, async JetStream publish ($JSCOUNT msgs)";; esac)
    a=$(echo -n "${out[nats-server]}" | grep "scenario=$scenario " | while read -r line; do field "$line" delivery_rate; done | gmean)
    b=$(echo -n "${out[strata]}" | grep "scenario=$scenario " | while read -r line; do field "$line" delivery_rate; done | gmean)
    lost=0
    while read -r line; do [ -n "$line" ] && lost=$((lost + $(field "$line" lost))); done <<< "$(echo -n "${out[nats-server]}${out[strata]}" | grep "scenario=$scenario ")"
    echo "| $label msgs/s (lost: $lost) | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
  done
}
table leaf
table hub

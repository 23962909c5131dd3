#!/usr/bin/env bash
# JetStream soak: one strata-server (sync always), the C load generator run ROUNDS times against it (each
# round: publish, pull consume with acks, push consume with acks, on the same stream, which keeps growing),
# RSS of the server after each round. Fails when a round loses messages or when the server's anonymous
# memory after the last round is more than 1.5x (+16 MiB) what it was after the first.
# Usage: Benchmarks/broker/soak-js.sh [rounds] [count]      (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-10}
COUNT=${2:-50000}
for p in libnats-dev; do dpkg -s $p >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq $p; }; done
swift build -c release --product strata-server >/dev/null
mkdir -p .build/bench
cc -O2 -o .build/bench/nats-jsbench Benchmarks/broker/nats-jsbench.c -lnats -lpthread
dir=$(mktemp -d)
port=$((28000 + RANDOM % 2000))
.build/release/strata-server -a 127.0.0.1 -p $port -js -sd "$dir" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
first=""
for round in $(seq "$ROUNDS"); do
  out=$(.build/bench/nats-jsbench nats://127.0.0.1:$port 256 "$COUNT" 200)
  pulled=$(sed -n 's/.*pulled=\([0-9]*\).*/\1/p' <<<"$out")
  pushed=$(sed -n 's/.*pushed=\([0-9]*\).*/\1/p' <<<"$out")
  anon=$(awk '/RssAnon/ {print $2}' /proc/$pid/status)
  echo "round $round: $out rss_anon_kib=$anon disk_kib=$(du -sk "$dir" | cut -f1)"
  # The pull consumer is durable (it resumes), the push one ephemeral (it sees the whole stream): each round
  # must get at least this round's messages through both.
  if [ "$pulled" -lt $((COUNT + 200)) ] || [ "$pushed" -lt $((COUNT + 200)) ]; then echo "FAIL: messages missing"; exit 1; fi
  [ -n "$first" ] || first=$anon
done
limit=$((first * 3 / 2 + 16384))
if [ "$anon" -gt "$limit" ]; then echo "FAIL: anonymous memory grew from $first KiB to $anon KiB"; exit 1; fi
echo "ok: $ROUNDS rounds, anonymous memory $first KiB after the first, $anon KiB after the last"

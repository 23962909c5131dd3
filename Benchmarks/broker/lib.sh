# Shared by the side-by-side scripts: start a server (nats-server or strata-server, same flags) with
# JetStream on a fresh store on a free loopback port, and stop it again.
#   start_server COMMAND [ARGS...]   sets SERVER_PID, SERVER_PORT, SERVER_DIR
#   stop_server                      stops it and removes its store
#   prepare_c_bench NAME...          installs libnats-dev and nats-server if missing, builds the release
#                                    strata-server, and compiles Benchmarks/broker/NAME.c to .build/bench/NAME
start_server() {
  SERVER_DIR=$(mktemp -d)
  SERVER_PORT=$((26000 + RANDOM % 5000))
  "$@" -a 127.0.0.1 -p $SERVER_PORT -js -sd "$SERVER_DIR" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$SERVER_PORT) 2>/dev/null && break; sleep 0.05; done
}

stop_server() {
  kill $SERVER_PID 2>/dev/null || true
  wait $SERVER_PID 2>/dev/null || true
  rm -rf "$SERVER_DIR"
}

prepare_c_bench() {
  for p in libnats-dev nats-server; do dpkg -s $p >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq $p; }; done
  [ -n "${STRATA_PREBUILT:-}" ] || swift build -c release --product strata-server >/dev/null  # (STRATA_PREBUILT=1: use the build there)
  mkdir -p .build/bench
  local name
  for name in "$@"; do cc -O2 -o .build/bench/$name Benchmarks/broker/$name.c -lnats -lpthread; done
}

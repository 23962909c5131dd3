# Strata: the two commands a new machine needs are `make run` and `make test`.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Build: the system libraries the package links. Test: the reference server for side-by-side checks and
# the C client (libnats-dev) and nats.go (Go 1.19 and golang-github-nats-io-go-nats-dev) for their interop tests.
APT_PACKAGES := liblmdb-dev libzstd-dev libcrypt-dev pkg-config
TEST_APT_PACKAGES := nats-server openssl python3-venv libnats-dev gcc golang-go golang-github-nats-io-go-nats-dev
PY := .build-py/bin/python
DATA ?= data
PORT ?= 4222

.PHONY: deps test-deps build release run test unit-test integration-test crash-test soak soak-reclaim soak-backpressure bench fuzz fuzz-merge fuzz-seeds crash-loop load dist dist-test clean

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

# Installs the system libraries the package links (Debian packages), only when missing.
deps:
	$(call apt_install,$(APT_PACKAGES))

# The interop client (nats-py from PyPI) in a virtual environment, and the reference nats-server.
test-deps: deps
	$(call apt_install,$(TEST_APT_PACKAGES))
	@$(PY) -c "import nats, nkeys, bcrypt, prometheus_client, pytest, pytest_asyncio, pytest_rerunfailures" 2>/dev/null || { \
	  python3 -m venv .build-py && $(PY) -m pip install -q --upgrade pip && \
	  $(PY) -m pip install -q nats-py nkeys bcrypt prometheus-client pytest pytest-asyncio pytest-rerunfailures; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Builds a release server and starts it with JetStream storage under ./data (Ctrl-C stops it).
run: release
	mkdir -p $(DATA)
	./.build/release/strata-server -js -sd $(DATA) -p $(PORT)

# Every test: Swift unit, fault-injection, recovery and SIGKILL crash tests, then the interop tests
# (nats-py against strata-server, raw protocol checked against nats-server).
test: unit-test integration-test

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

integration-test: test-deps
	$(SWIFT) build --product strata-server
	cd Tests/Integration && ../../$(PY) -m pytest -q

# Self-contained release binaries in dist/ (static Swift runtime, LMDB, zstd and libxcrypt; stripped), with a
# systemd unit and an example config: they need only libc and the C++/gcc runtime.
dist: deps
	Tools/dist/build.sh

# Runs the dist binaries in a chroot holding only them and the libraries they name, with a client outside.
dist-test: dist test-deps
	cd Tests/Dist && ../../$(PY) -m pytest -q

# libFuzzer over every target of Tests/Fuzz (protocol, CONNECT, JetStream API, acks, config, segments, records,
# consumer state, index values), with AddressSanitizer: FUZZ_SECONDS each (60), FUZZ_RUNS to stop a target at that
# many executions, FUZZ_TARGETS to choose (swiftc has no UBSan on Linux: see RELIABILITY.md). Prints executions per target
# (.build-fuzz/report.txt); a crash leaves its input in .build-fuzz/crashes/<target>/. `make test` replays the
# kept corpora (FuzzCorpusTests).
fuzz: deps
	Tools/fuzz/run.sh

# Folds what `make fuzz` found into the kept corpora, minimised (libFuzzer -merge=1: only inputs that add coverage).
fuzz-merge: deps
	for t in $$(ls .build-fuzz/corpus); do \
	  .build-fuzz/$${FUZZ_SANITIZER:-address}/release/strata-fuzz $$t -merge=1 Tests/Fuzz/Corpus/$$t .build-fuzz/corpus/$$t; done

# Re-seeds the corpora: client traffic recorded from nats-py through a proxy, and the store's own encodings.
fuzz-seeds: build test-deps
	$(PY) Tools/fuzz/capture_seeds.py
	cd Tests/Fuzz && $(SWIFT) build --build-path ../../.build-fuzz-debug --product strata-fuzz
	.build-fuzz-debug/debug/strata-fuzz --write-seeds Tests/Fuzz/Corpus

# The whole server killed with SIGKILL under JetStream load, STRATA_CRASH_LOOP_ROUNDS rounds (50), then a SIGTERM
# under load; every acknowledged publish and AckSync checked (Tests/Integration/test_crash_loop.py).
crash-loop: test-deps
	$(SWIFT) build --product strata-server
	cd Tests/Integration && STRATA_CRASH_LOOP_ROUNDS=$${STRATA_CRASH_LOOP_ROUNDS:-50} ../../$(PY) -m pytest -q -s test_crash_loop.py

# Connections, fan-out and a slow consumer at scale, Strata and nats-server side by side, with RSS figures
# (Tests/Integration/test_load.py): STRATA_LOAD_CONNECTIONS (10,000) and STRATA_LOAD_SUBSCRIBERS (1,000).
load: test-deps
	$(SWIFT) build --product strata-server
	cd Tests/Integration && STRATA_LOAD_CONNECTIONS=$${STRATA_LOAD_CONNECTIONS:-10000} \
	  STRATA_LOAD_SUBSCRIBERS=$${STRATA_LOAD_SUBSCRIBERS:-1000} ../../$(PY) -m pytest -q -s test_load.py

# A longer crash loop than the one in `make test` (STRATA_CRASH_ROUNDS rounds).
crash-test: deps
	$(SWIFT) build --build-tests
	STRATA_CRASH_ROUNDS=$${STRATA_CRASH_ROUNDS:-50} $(SWIFT) test --skip-build --filter CrashTests

# JetStream soak: the C load generator run against one server for SOAK_ROUNDS rounds of SOAK_COUNT
# messages; fails on a lost message or on memory that keeps growing.
soak: deps
	Benchmarks/broker/soak-js.sh $${SOAK_ROUNDS:-10} $${SOAK_COUNT:-50000}

# Bounded disk under retention: a capped stream and a drained work queue under RECLAIM_TOTAL messages,
# side by side with nats-server (store size per quarter, work-queue backlog, work-queue consume rate).
soak-reclaim: test-deps
	Benchmarks/broker/reclaim.sh $${RECLAIM_TOTAL:-10000000}

# Backpressure: a publisher that never waits floods a stream (FLOOD_COUNT messages of 1 KiB), side by side
# with nats-server; the servers' RSS and anonymous RSS peaks.
soak-backpressure: test-deps
	Benchmarks/broker/flood.sh $${FLOOD_COUNT:-2000000} 1024

# Storage benchmarks (release build, separate package under Benchmarks/): the figures of BENCHMARKS.md.
bench: deps
	cd Benchmarks && $(SWIFT) run -c release strata-bench

clean:
	rm -rf .build .build-dist dist Benchmarks/.build .build-py

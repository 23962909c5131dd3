# Strata: the two commands a new machine needs are `make run` and `make test`.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := liblmdb-dev libzstd-dev pkg-config
DATA ?= data

.PHONY: deps build release run test crash-test bench clean

# Installs the system libraries the package links (Debian packages), only when missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Until the broker lands, `run` builds the release tools, writes a sample stream into $(DATA)/ and
# inspects it (the broker will take over this target).
run: release
	./.build/release/strata demo $(DATA)/streams/demo 100000
	./.build/release/strata inspect $(DATA)/streams/demo

# Every test: unit, fault-injection and the SIGKILL crash test.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# A longer crash loop than the one in `make test` (STRATA_CRASH_ROUNDS rounds).
crash-test: deps
	$(SWIFT) build --build-tests
	STRATA_CRASH_ROUNDS=$${STRATA_CRASH_ROUNDS:-50} $(SWIFT) test --skip-build --filter CrashTests

# Storage benchmarks (release build, separate package under Benchmarks/).
bench: deps
	cd Benchmarks && $(SWIFT) run -c release strata-bench

clean:
	rm -rf .build Benchmarks/.build

# Tessera developer entry points. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CARGO ?= cargo
# Exact client versions recorded against Glance 33, used when the shared peer files are present.
CONSTRAINTS ?= $(wildcard ../shared/peer/glance-constraints.txt)
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
TESSERA_BIN ?= $(or $(CARGO_TARGET_DIR),target)/debug/tessera
TESTBED_BIN ?= $(or $(CARGO_TARGET_DIR),target)/debug/testbed
# Where chaos reports go (a failing run also keeps its cluster dir under /tmp).
CHAOS_DIR ?= $(or $(CARGO_TARGET_DIR),target)/chaos

.PHONY: venv build run test test-clients lint bench bench-stores bench-slow-clients bench-import chaos conformance \
  fuzz fuzz-smoke fuzz-tool

venv: $(VENV)/.stamp

$(VENV)/.stamp: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q $(PIP_CONSTRAINTS) -r tests/requirements.txt
	touch $@

build:
	$(CARGO) build -p tessera-node -p tessera-testbed

run: build
	$(TESSERA_BIN) serve

test: build venv
	$(CARGO) test --workspace
	$(MAKE) fuzz-smoke
	TESSERA_BIN=$(abspath $(TESSERA_BIN)) $(VENV)/bin/pytest -q tests/clients
	# Keystone mode against a real Keystone (../shared/peer/tempest/keystone.sh, installed on
	# first use): started and stopped by the suite.
	TESSERA_BIN=$(abspath $(TESSERA_BIN)) $(VENV)/bin/pytest -q tests/keystone
	# The real-client suite once more, in Keystone mode: real users in two (three) projects.
	TESSERA_KEYSTONE=1 TESSERA_BIN=$(abspath $(TESSERA_BIN)) $(VENV)/bin/pytest -q tests/clients
	$(VENV)/bin/pytest -q tests/cluster
	# Metadefs against the real Glance 33 (../shared/peer, installed on first use).
	$(VENV)/bin/pytest -q tests/metadefs
	tests/clients-on-cluster.sh
	mkdir -p $(CHAOS_DIR)
	$(TESTBED_BIN) chaos --nodes 3 --duration 45 --seed 1 --max-mib 8 --report $(CHAOS_DIR)/chaos-test.json
	# The harness must catch a deliberately broken node (acks uploads before storing them).
	$(TESTBED_BIN) chaos --nodes 3 --duration 30 --seed 5 --faults kill --max-mib 8 \
	  --serve-arg=--unsafe-write-behind-ms=4000 --expect-violation durability \
	  --report $(CHAOS_DIR)/chaos-broken.json

# Only the real-client suite; e.g. `TESSERA_URL=http://127.0.0.1:9292 make test-clients`
# runs it against an already running server (such as the real Glance peer).
test-clients: venv
	TESSERA_BIN=$(abspath $(TESSERA_BIN)) $(VENV)/bin/pytest -q tests/clients

# rustfmt, and clippy with the workspace lints (missing_docs, unwrap_used outside tests) as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tessera vs the real Glance vs the machine's ceilings, same workloads, same run: the table goes
# to stdout and target/bench/ (report.md, report.json, ratios.png). The Glance peer is started
# privately when ../shared/peer is there and installed (its install.sh); otherwise the report
# says Tessera-only. `make bench BENCH_ARGS=--quick` is a smoke run; `bench --help` lists knobs.
PEER_SCRIPTS ?= $(wildcard ../shared/peer/glance-start.sh)
PEER_VENV ?= /tmp/tessera-peer/venv
RELEASE_DIR := $(or $(CARGO_TARGET_DIR),target)/release
bench:
	$(CARGO) build --release -p tessera-node -p tessera-testbed --bins
	# Apart: an example pulls in dev-dependencies, whose `testing` features must not reach the bins.
	$(CARGO) build --release -p tessera-node --example quic_bench
	$(RELEASE_DIR)/bench $(if $(and $(PEER_SCRIPTS),$(wildcard $(PEER_VENV)/bin/uwsgi)),\
	  --peer-scripts $(dir $(PEER_SCRIPTS)) --peer-venv $(PEER_VENV)) $(BENCH_ARGS)

# Upload and download MB/s of a 1 GiB image: through the swift and s3 store drivers alone
# (dev profile: the bytes go through the optimized dependencies, reqwest and hyper), then
# through a release node's image API into each of its cluster, file, swift and s3 stores in
# one run; both against a local Swift (../shared/peer/swift/saio.sh, started and stopped).
bench-stores: venv
	$(CARGO) test -p tessera-node --test object_stores -- --ignored --nocapture bench_1_gib
	$(CARGO) build --release -p tessera-node --bin tessera
	TESSERA_BIN=$(RELEASE_DIR)/tessera $(VENV)/bin/python tests/bench/stores.py $(STORES_ARGS)

# 16 concurrent uploads of 64 MiB (the `make bench` concurrency workload) with and without 200
# slow clients (a request-head byte a second each) on one release node: MiB/s and failed
# uploads, figures only, no assertion. `SLOW_ARGS="--clients 500 --mib 256"` changes it.
bench-slow-clients: venv
	$(CARGO) build --release -p tessera-node --bin tessera
	TESSERA_BIN=$(RELEASE_DIR)/tessera $(VENV)/bin/python tests/bench/slow_clients.py $(SLOW_ARGS)

# Time to active of a 1 GiB image by PUT /file and by stage + glance-direct import on one
# release node: figures only. `IMPORT_ARGS="--mib 256 --runs 5"` changes it.
bench-import: venv
	$(CARGO) build --release -p tessera-node --bin tessera
	TESSERA_BIN=$(RELEASE_DIR)/tessera $(VENV)/bin/python tests/bench/import_throughput.py $(IMPORT_ARGS)

# A seeded 2-minute chaos run with every fault this machine allows (partitions and disk-full
# need root); the report lands in $(CHAOS_DIR)/chaos.json.
chaos: build
	mkdir -p $(CHAOS_DIR)
	$(TESTBED_BIN) chaos --nodes 3 --duration 120 --seed 2026 --report $(CHAOS_DIR)/chaos.json

# Tempest 47 + glance-tempest-plugin 0.17 against a 3-node cluster in Keystone mode, with the
# peer scripts of ../shared/peer/tempest (Keystone started unless running; Tempest installed
# on first use). About 15 minutes, not in CI. Writes target/conformance/summary.md.
conformance: build
	TESSERA_BIN=$(abspath $(TESSERA_BIN)) TESTBED_BIN=$(abspath $(TESTBED_BIN)) tests/conformance/run.sh

# Fuzzing with cargo-fuzz (libFuzzer, no sanitizer: stable Rust) of the parsers and decoders
# that take input from clients, peers and disks; the targets are in fuzz/ (a crate apart from
# the workspace), their seeds in fuzz/corpus/<target>. Builds, the corpora grown by runs and
# cargo-fuzz itself live under the target dir, never in the clone. `make fuzz` runs each target
# FUZZ_SECONDS on the optimized build; `make fuzz-smoke` (in `make test`) FUZZ_SMOKE_SECONDS
# each on the cheaper dev build. A crash fails the run and leaves its input in fuzz/artifacts.
FUZZ_TARGETS := json_patch list_query range peer_frame peer_messages gossip manifest inspector
FUZZ_SECONDS ?= 75
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_HOME := $(abspath $(or $(CARGO_TARGET_DIR),target))
CARGO_FUZZ := $(FUZZ_HOME)/tools/bin/cargo-fuzz
FUZZ = PATH=$(dir $(CARGO_FUZZ)):$$PATH $(CARGO) fuzz

fuzz-tool: $(CARGO_FUZZ)

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version 0.13.2 --root $(FUZZ_HOME)/tools

# $(1): build flags, $(2): seconds per target, $(3): where the runs' corpora grow. Prints each
# target's executions at the end.
define fuzz_all
	$(FUZZ) build $(1) --sanitizer none --target-dir $(FUZZ_HOME)/fuzz
	set -eo pipefail; mkdir -p $(FUZZ_HOME)/fuzz-logs; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(3)/$$t; \
	  $(FUZZ) run $(1) --sanitizer none --target-dir $(FUZZ_HOME)/fuzz $$t \
	    $(3)/$$t fuzz/corpus/$$t -- -max_total_time=$(2) -timeout=20 \
	    2>&1 | tee $(FUZZ_HOME)/fuzz-logs/$$t.log | grep -v '^#[0-9]'; \
	done; \
	for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second' $(FUZZ_HOME)/fuzz-logs/$$t.log)"; \
	done
endef

# The corpus of `make fuzz` grows from run to run; the smoke run starts from the seeds each
# time, so that a grown corpus cannot stretch `make test`.
fuzz: fuzz-tool
	$(call fuzz_all,,$(FUZZ_SECONDS),$(FUZZ_HOME)/fuzz-corpus)

fuzz-smoke: fuzz-tool
	rm -rf $(FUZZ_HOME)/fuzz-smoke-corpus
	$(call fuzz_all,--dev,$(FUZZ_SMOKE_SECONDS),$(FUZZ_HOME)/fuzz-smoke-corpus)

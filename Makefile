# OpenClaw as a Service — `make run` starts the service, `make test` runs every check.
# Both install what they need (Debian packages via apt) on a fresh machine.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ocaas-target
BIN := $(CARGO_TARGET_DIR)/debug
CARGO ?= cargo

.PHONY: all deps build run test test-k8s lint unit-test bench fmt clean-data pg-start pg-stop fuzz-api

all: build

## Debian packages, Node 24, the pinned OpenClaw gateway, and the console's browser libraries
## (xterm.js, noVNC) from npm (idempotent, quick when present).
deps:
	@scripts/deps.sh
	@scripts/install-openclaw.sh
	@scripts/vendor-web.sh

build: deps
	$(CARGO) build --workspace --all-targets

## The service on the embedded default: SQLite under ./data, local bubblewrap runtime,
## listening on http://localhost:8080. The admin API key is printed on first start.
run: export OCAAS_LOG_FORMAT ?= pretty
run: deps
	$(CARGO) build -p orchestrator -p sandbox-agent
	$(BIN)/orchestrator $(ARGS)

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Everything CI checks: formatting, lints, then all tests against SQLite and a throwaway
## PostgreSQL on a loopback port, and the Kubernetes tests against a throwaway API server.
test: deps lint
	$(CARGO) build --workspace --all-targets
	@scripts/with-postgres.sh scripts/run-tests.sh
	@scripts/fuzz-api.sh --max-examples 25

## Only the Kubernetes runtime's and the Helm chart's tests, against a throwaway API server
## (scripts/k8s/: builds kube-apiserver once, ~10 min, cached in ~/.cache/ocaas-k8s).
test-k8s: deps
	$(CARGO) build --workspace --all-targets
	@scripts/k8s/test.sh

## Benchmarks print numbers; nothing in them is asserted.
bench: deps
	$(CARGO) build --release -p orchestrator -p sandbox-agent -p e2e
	OCAAS_BIN_DIR=$(CARGO_TARGET_DIR)/release $(CARGO_TARGET_DIR)/release/ocaas-bench $(ARGS)

## schemathesis (PyPI, cached venv) against the live service's OpenAPI spec: no 5xx, every
## response as documented. `make fuzz-api ARGS="--max-examples 200"` for a longer run.
fuzz-api: deps
	$(CARGO) build -p orchestrator -p sandbox-agent
	scripts/fuzz-api.sh $(ARGS)

clean-data:
	rm -rf ./data

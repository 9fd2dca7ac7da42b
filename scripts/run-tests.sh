#!/usr/bin/env bash
# Run the whole test suite (nextest when available).
set -euo pipefail
# `make` installed OpenClaw: its tests must run, not skip.
export OCAAS_REQUIRE_OPENCLAW=1
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast --failure-output final "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi

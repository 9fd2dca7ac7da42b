#!/usr/bin/env bash
# Fuzz the live API against its own OpenAPI spec with schemathesis: no 5xx, every status code
# documented, every response body matching its schema and content type.
#
#   scripts/fuzz-api.sh [--max-examples N] [extra `st run` arguments...]
#
# Starts the orchestrator built in $CARGO_TARGET_DIR/debug on a free loopback port with a
# throwaway data directory and a bootstrap key (no OpenClaw gateway: chat answers with its
# documented errors), waits for /readyz, runs `st run` against /api/openapi.json, and stops the
# server. schemathesis comes from PyPI into a cached venv (~/.cache/ocaas-tools).
# Websocket routes are excluded (schemathesis speaks HTTP only); they have their own tests.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
max_examples=25
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) max_examples="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/ocaas-target}"
bin="$target/debug/orchestrator"
[ -x "$bin" ] || { echo "fuzz-api: $bin missing: cargo build --workspace first" >&2; exit 1; }

venv="${OCAAS_TOOLS_CACHE:-$HOME/.cache/ocaas-tools}/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
  echo "fuzz-api: installing schemathesis $SCHEMATHESIS_VERSION into $venv (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

data=$(mktemp -d /tmp/ocaas-fuzz-XXXXXX)
chmod 711 "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="ocaas_fuzz$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 36)"
base="http://127.0.0.1:$port"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

OCAAS_DATA_DIR="$data" OCAAS_LISTEN="127.0.0.1:$port" OCAAS_BOOTSTRAP_API_KEY="$key" \
  OCAAS_LOCAL__OPENCLAW_DIR= OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN=false \
  OCAAS_LIMITS__MAX_RUNNING_INSTANCES=4 OCAAS_LIMITS__MAX_INSTANCES_PER_ACCOUNT=4 \
  OCAAS_RATE_LIMITS__CHAT_PER_MIN=0 OCAAS_RATE_LIMITS__READ_PER_MIN=0 \
  OCAAS_RATE_LIMITS__WRITE_PER_MIN=0 OCAAS_RATE_LIMITS__SIGN_IN_PER_MIN=0 \
  OCAAS_LOG_LEVEL=warn "$bin" >"$data/orchestrator.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data/orchestrator.log" >&2; exit 1; }
  sleep 0.1
done

run() {
  "$venv/bin/st" run "$base/api/openapi.json" \
    --header "Authorization: Bearer $key" \
    --max-examples "$max_examples" \
    --generation-database none \
    --seed 1 \
    --no-color \
    "$@" "${extra[@]}"
}
checks=status_code_conformance,content_type_conformance,response_schema_conformance
echo "fuzz-api: schemathesis $SCHEMATHESIS_VERSION against $base (max $max_examples examples per operation)"
set +e
# Everything but the chat turn routes: no 5xx at all.
run --checks "not_a_server_error,$checks" --exclude-path-regex '/(terminal|vnc)/ws$|/chat(/stream)?$'
status=$?
# The chat turn routes: this server runs no OpenClaw gateway (1 GB per instance), so a turn
# answers its documented `503 UNAVAILABLE`; every answer must still be as documented.
echo "fuzz-api: chat turns (no gateway here: 503 UNAVAILABLE is their documented answer)"
run --checks "$checks" --include-path-regex '/chat(/stream)?$'
status=$(( status | $? ))
set -e
if [ $status -ne 0 ]; then
  echo "fuzz-api: failures; server log tail:" >&2
  grep -E '"level":"(ERROR|WARN)"|ERROR|WARN' "$data/orchestrator.log" | tail -20 >&2 || true
fi
exit $status

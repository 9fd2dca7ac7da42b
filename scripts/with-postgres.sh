#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL on a free loopback port.
# Exports OCAAS_TEST_DATABASE_URL (an admin URL; tests create their own databases in it).
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/ocaas-pg.XXXXXX)
chmod 755 "$dir"
# PostgreSQL refuses to run as root: run it as an unprivileged user.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$dir"
  run_as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cleanup() {
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${run_as[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
"${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
export OCAAS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
export OCAAS_REQUIRE_POSTGRES=1
echo "with-postgres: PostgreSQL on 127.0.0.1:$port"
"$@"

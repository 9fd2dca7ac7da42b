#!/usr/bin/env bash
# The Kubernetes runtime's and the Helm chart's tests (`orchestrator/tests/kubernetes/`)
# against a throwaway API server (cluster.sh: etcd + kube-apiserver + kube-controller-manager
# v1.20, no node, in a loopback-only network namespace). Missing pieces are fetched or built
# first, outside the namespace (it has no network): the cluster's binaries (build.sh, ~10 min
# once, cached), helm/kubectl/kubernetes-validate (tools.sh, ~30 s once), the test binary and
# the sandbox-agent binary the relay test runs. PostgreSQL runs inside the namespace too.
#
#   scripts/k8s/test.sh [NEXTEST FILTERS...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# shellcheck disable=SC1090
. "$("$here/tools.sh")"
"$here/build.sh" >/dev/null
cargo build --quiet -p sandbox-agent
cargo nextest run --no-run -p orchestrator --test kubernetes --ignore-default-filter

export OCAAS_REQUIRE_K8S=1
# A throwaway PostgreSQL inside the namespace too, for the tests with two replicas.
exec "$here/cluster.sh" run -- "$root/scripts/with-postgres.sh" \
  cargo nextest run --offline -p orchestrator --test kubernetes \
  --ignore-default-filter --no-fail-fast --failure-output final --no-tests=pass "$@"

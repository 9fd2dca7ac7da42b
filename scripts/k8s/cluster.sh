#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run from traps
# A throwaway Kubernetes control plane (etcd, kube-apiserver v1.20, kube-controller-manager)
# for tests, inside a fresh network namespace that has only loopback: nothing it or the command
# does can reach another address. No node runs: pods stay Pending (a test may patch a pod's
# status through the /status subresource). Never add a simulated node (kubemark): see
# /work/shared/KUBERNETES.md.
#
#   scripts/k8s/cluster.sh run -- COMMAND [ARGS...]
#
# COMMAND runs inside the same network namespace with:
#   KUBECONFIG, OCAAS_TEST_KUBECONFIG  a kubeconfig (admin, namespace default, CA-verified TLS)
#   OCAAS_TEST_K8S_SERVER              https://127.0.0.1:6443
#   OCAAS_TEST_K8S_TOKEN               a bearer token of a system:masters user
#   OCAAS_TEST_K8S_CA_FILE             the apiserver's self-signed certificate chain
# Exit status is COMMAND's. On any exit (signals too) all three servers are stopped and the
# state is removed; the components' logs are kept, and their path printed, only on a failure
# (or always with OCAAS_K8S_KEEP_LOGS=1). Builds the binaries first if needed (scripts/k8s/build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"

usage() { echo "usage: $0 run -- COMMAND [ARGS...]" >&2; exit 2; }
# fd 3 = our stdin (or /dev/null when it is closed), to hand to a background job.
dup_stdin() { { exec 3<&0; } 2>/dev/null || exec 3</dev/null; }

# ---------------------------------------------------------------------------------------------
# Outside: enter a new network namespace and run the inner part there.
# ---------------------------------------------------------------------------------------------
outer() {
  [ "${1:-}" = "run" ] || usage
  shift
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || usage
  bin=$(OCAAS_K8S_QUIET=1 "$here/build.sh")
  ns=(unshare --net --fork --kill-child=TERM)
  # Not root: a user namespace maps us to root inside it, which may then make a net namespace.
  [ "$(id -u)" -eq 0 ] || ns=(unshare --user --map-root-user --net --fork --kill-child=TERM)

  # unshare blocks SIGINT/SIGTERM while it waits for its child, so run it in the background
  # and forward signals to the child ourselves. (fd 3 keeps our stdin: a background job's
  # stdin would otherwise be /dev/null.)
  dup_stdin
  OCAAS_K8S_BIN_DIR="$bin" "${ns[@]}" -- "$self" __inner "$@" <&3 3<&- &
  upid=$!
  exec 3<&-
  # The inner script is a background job, so it ignores SIGINT (and cannot trap it): an INT
  # is forwarded as USR1, which it turns into exit 130.
  forward() {
    local child
    child=$(ps -o pid= --ppid "$upid" 2>/dev/null | head -n 1 | tr -d ' ')
    if [ -n "$child" ]; then kill -s "$1" "$child" 2>/dev/null || true; fi
  }
  trap 'forward TERM' TERM
  trap 'forward USR1' INT
  trap 'forward HUP' HUP
  status=0
  while :; do
    wait "$upid" && status=0 || status=$?
    kill -0 "$upid" 2>/dev/null || break
  done
  exit "$status"
}

# ---------------------------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------------------------
inner() {
  start=$(date +%s%N)
  elapsed() { local ms=$((($(date +%s%N) - start) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
  bin="${OCAAS_K8S_BIN_DIR:?}"
  unset OCAAS_K8S_BIN_DIR

  ip link set lo up

  shm=/dev/shm
  [ -d "$shm" ] && [ -w "$shm" ] || shm="${TMPDIR:-/tmp}"
  run=$(mktemp -d "$shm/ocaas-k8s.XXXXXX") # state: etcd data, keys, certificates
  logs=$(mktemp -d "${TMPDIR:-/tmp}/ocaas-k8s-logs.XXXXXX")
  pids=()
  cmdpid=""
  failed=0

  stop_all() {
    local p i
    if [ -n "$cmdpid" ]; then kill -TERM "$cmdpid" 2>/dev/null || true; fi
    # Reverse start order: controller manager, apiserver, etcd.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
    for _ in $(seq 50); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  }
  cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    stop_all
    rm -rf "$run"
    if [ "$status" -ne 0 ] || [ "${OCAAS_K8S_KEEP_LOGS:-0}" = 1 ]; then
      if [ "$failed" -eq 1 ]; then
        for f in "$logs"/*.log; do
          [ -f "$f" ] || continue
          echo "---- last lines of $f" >&2
          tail -n 15 "$f" >&2
        done
      fi
      echo "k8s cluster: exit $status; component logs kept in $logs" >&2
    else
      rm -rf "$logs"
    fi
    exit "$status"
  }
  trap cleanup EXIT
  trap 'exit 130' INT USR1
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  fail() { echo "k8s cluster: $*" >&2; failed=1; exit 1; }
  # wait_for NAME PID TIMEOUT_S CHECK...: until CHECK succeeds; fail early if PID died.
  wait_for() {
    local name=$1 pid=$2 timeout=$3 i
    shift 3
    for ((i = 0; i < timeout * 10; i++)); do
      "$@" >/dev/null 2>&1 && return 0
      kill -0 "$pid" 2>/dev/null || fail "$name exited during startup"
      sleep 0.1
    done
    fail "$name not ready after ${timeout}s"
  }

  # --- credentials ---
  token=$(openssl rand -hex 24)
  printf '%s,admin,admin,system:masters\n' "$token" >"$run/tokens.csv"
  openssl genrsa -out "$run/sa.key" 2048 2>/dev/null
  openssl rsa -in "$run/sa.key" -pubout -out "$run/sa.pub" 2>/dev/null
  chmod 600 "$run/sa.key" "$run/tokens.csv"
  server=https://127.0.0.1:6443
  ca="$run/certs/apiserver.crt"

  # --- etcd ---
  etcd --name ocaas-test --data-dir "$run/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster ocaas-test=http://127.0.0.1:2380 \
    --logger zap --log-outputs stderr >"$logs/etcd.log" 2>&1 &
  pids+=($!)
  wait_for etcd "${pids[0]}" 20 curl -fsS -m 1 http://127.0.0.1:2379/health
  t_etcd=$(elapsed)

  # --- kube-apiserver ---
  "$bin/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --secure-port=6443 --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --cert-dir="$run/certs" \
    --token-auth-file="$run/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$run/sa.pub" \
    --service-account-signing-key-file="$run/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false \
    --v=1 >"$logs/kube-apiserver.log" 2>&1 &
  pids+=($!)
  wait_for kube-apiserver "${pids[1]}" 90 \
    curl -fsS -m 2 --cacert "$ca" -H "Authorization: Bearer $token" "$server/readyz"
  t_api=$(elapsed)

  # --- kubeconfig (for clients and the controller manager) ---
  kubeconfig="$run/kubeconfig"
  cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ocaas-test
  cluster:
    server: $server
    certificate-authority: $ca
users:
- name: admin
  user:
    token: $token
contexts:
- name: ocaas-test
  context:
    cluster: ocaas-test
    user: admin
    namespace: default
current-context: ocaas-test
EOF
  chmod 600 "$kubeconfig"

  # --- kube-controller-manager (service accounts and their tokens, namespace deletion, ...) ---
  "$bin/kube-controller-manager" \
    --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --leader-elect=false \
    --service-account-private-key-file="$run/sa.key" \
    --root-ca-file="$ca" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 \
    --cert-dir="$run/kcm-certs" \
    --profiling=false \
    --v=1 >"$logs/kube-controller-manager.log" 2>&1 &
  pids+=($!)
  # In 1.20 the ServiceAccount admission plugin refuses pods until the `default` ServiceAccount
  # exists and has its token secret.
  sa_ready() {
    curl -fsS -m 2 --cacert "$ca" -H "Authorization: Bearer $token" \
      "$server/api/v1/namespaces/default/serviceaccounts/default" | grep -q '"secrets"'
  }
  wait_for kube-controller-manager "${pids[2]}" 60 sa_ready

  echo "k8s cluster: ready in $(elapsed)s (etcd ${t_etcd}s, apiserver ${t_api}s;" \
    "$server, loopback-only network namespace)" >&2
  export KUBECONFIG="$kubeconfig" OCAAS_TEST_KUBECONFIG="$kubeconfig"
  export OCAAS_TEST_K8S_SERVER="$server" OCAAS_TEST_K8S_TOKEN="$token" OCAAS_TEST_K8S_CA_FILE="$ca"

  # In the background, so that a signal reaches our trap at once.
  dup_stdin
  "$@" <&3 3<&- &
  cmdpid=$!
  exec 3<&-
  status=0
  wait "$cmdpid" || status=$?
  cmdpid=""
  exit "$status"
}

case "${1:-}" in
  __inner) shift; inner "$@" ;;
  *) outer "$@" ;;
esac

# shellcheck shell=bash
# Sourced by the scripts in scripts/k8s/: where the test cluster's pieces live.
# Every value can be overridden from the environment.

# The Debian bookworm source package `kubernetes` the API server is built from (upstream v1.20.2).
OCAAS_K8S_DEB_VERSION="${OCAAS_K8S_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
OCAAS_K8S_CACHE="${OCAAS_K8S_CACHE:-$HOME/.cache/ocaas-k8s}"
OCAAS_K8S_BIN="${OCAAS_K8S_BIN:-$OCAAS_K8S_CACHE/$OCAAS_K8S_DEB_VERSION/bin}"
OCAAS_K8S_TOOLS="${OCAAS_K8S_TOOLS:-$OCAAS_K8S_CACHE/tools}"

# Upstream version inside the Debian one: 1.20.5+really1.20.2-1.1+deb12u1 -> 1.20.2.
ocaas_k8s_upstream_version() {
  local v="${OCAAS_K8S_DEB_VERSION%%-*}"
  v="${v##*really}"
  echo "${v%%+*}"
}

# Run apt-get/apt-cache as root, or through sudo.
ocaas_k8s_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "k8s: need root (or sudo) for: $*" >&2; return 1
  fi
}

# Install the named Debian packages that are not installed yet (apt-get update once, first).
ocaas_k8s_apt_install() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  echo "k8s: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  ocaas_k8s_sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  ocaas_k8s_sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

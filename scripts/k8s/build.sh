#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager (upstream v1.20.2) from Debian bookworm's
# source package `kubernetes` with Debian's Go, for the test cluster of scripts/k8s/cluster.sh.
# Also installs what the cluster needs from Debian (etcd-server, openssl, curl, iproute2).
#
#   scripts/k8s/build.sh        prints the directory holding the two binaries (last line);
#                               OCAAS_K8S_QUIET=1 silences the "cached" message
#
# The binaries are cached under $OCAAS_K8S_CACHE/<package version>/bin (default
# ~/.cache/ocaas-k8s), the Go build cache under $OCAAS_K8S_CACHE/go-build. A second run is a
# no-op. A cold build takes ~9 minutes on 2 cores and ~1.4 GB of memory; see
# /work/shared/KUBERNETES.md for the three pitfalls handled below.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

start=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - start) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

cached() {
  [ -x "$OCAAS_K8S_BIN/kube-apiserver" ] && [ -x "$OCAAS_K8S_BIN/kube-controller-manager" ] &&
    command -v etcd >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 &&
    command -v curl >/dev/null 2>&1 && command -v ip >/dev/null 2>&1
}
if cached; then
  [ "${OCAAS_K8S_QUIET:-0}" = 1 ] || echo "k8s build: cached ($(elapsed)s)" >&2
  echo "$OCAAS_K8S_BIN"
  exit 0
fi

ocaas_k8s_apt_install etcd-server openssl curl iproute2
if [ -x "$OCAAS_K8S_BIN/kube-apiserver" ] && [ -x "$OCAAS_K8S_BIN/kube-controller-manager" ]; then
  echo "k8s build: cached ($(elapsed)s)" >&2
  echo "$OCAAS_K8S_BIN"
  exit 0
fi
ocaas_k8s_apt_install golang-go dpkg-dev xz-utils

verdir="$OCAAS_K8S_CACHE/$OCAAS_K8S_DEB_VERSION"
mkdir -p "$verdir"
# One build at a time per version (parallel test runs may all call this).
exec 9>"$verdir/.lock"
flock 9
if cached; then
  echo "k8s build: built by another run ($(elapsed)s)" >&2
  echo "$OCAAS_K8S_BIN"
  exit 0
fi

echo "k8s build: kubernetes $OCAAS_K8S_DEB_VERSION (once; ~9 min on 2 cores)" >&2
# A fixed path (not mktemp) so the Go build cache hits on a rebuild.
work="$verdir/work"
rm -rf "$work"
mkdir -p "$work"
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then echo "k8s build: FAILED after $(elapsed)s; tree left in $work" >&2; fi
}
trap on_exit EXIT

# --- 1. Source package, through a private apt configuration (the system's is not touched). ---
# deb + deb-src lines with the URIs, suites and keys of the machine's own Debian entries.
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts"
{
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && /debian/ { print; sub(/^deb/, "deb-src"); print }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: one stanza per blank-line-separated paragraph.
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uris ~ /debian/ && enabled != "no") {
          opt = signed != "" ? "[signed-by=" signed "] " : ""
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) {
            print "deb " opt u[i] " " s[j] " " comps
            print "deb-src " opt u[i] " " s[j] " " comps
          }
        }
        types = uris = suites = comps = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0; else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0; else if (key == "components") comps = $0
        else if (key == "signed-by") signed = $0; else if (key == "enabled") enabled = tolower($0) }
      END { flush() }' "$f"
  done
} | sort -u >"$apt_dir/sources.list"
if [ ! -s "$apt_dir/sources.list" ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  printf 'deb http://deb.debian.org/debian %s main\ndeb-src http://deb.debian.org/debian %s main\n' \
    "$codename" "$codename" >"$apt_dir/sources.list"
fi
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
echo "k8s build: [$(elapsed)s] apt-get source (private lists)" >&2
apt-get "${apt_opts[@]}" -qq update
mkdir -p "$work/dl"
(cd "$work/dl" &&
  apt-get "${apt_opts[@]}" -qq source --download-only "kubernetes=$OCAAS_K8S_DEB_VERSION" >/dev/null &&
  apt-get "${apt_opts[@]}" -qq download golang-github-modern-go-reflect2-dev \
    golang-github-json-iterator-go-dev >/dev/null) || {
  echo "k8s build: could not fetch source package kubernetes=$OCAAS_K8S_DEB_VERSION" \
    "(set OCAAS_K8S_DEB_VERSION to a version \`apt-cache showsrc kubernetes\` lists)" >&2
  exit 1
}

# --- 2. GOPATH layout (pitfall 1: module mode fails; upstream builds in GOPATH mode). ---
export GOPATH="$work/gopath"
export GO111MODULE=off GOFLAGS='' GOPROXY=off CGO_ENABLED=0
export GOCACHE="$OCAAS_K8S_CACHE/go-build"
src="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$(dirname "$src")"
echo "k8s build: [$(elapsed)s] unpack" >&2
dpkg-source --no-check -x "$work/dl"/kubernetes_*.dsc "$src" >/dev/null
cd "$src"

# --- 3. Pitfall 3: Go 1.19 breaks the vendored reflect2; use Debian's newer sources. ---
mkdir -p "$work/deb"
for deb in "$work/dl"/*.deb; do dpkg -x "$deb" "$work/deb"; done
for p in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  test -d "$work/deb/usr/share/gocode/src/$p"
  rm -rf "vendor/$p"
  cp -rL "$work/deb/usr/share/gocode/src/$p" "vendor/$p"
done

# --- 4. Pitfall 2: generate pkg/generated/openapi/zz_generated.openapi.go. ---
# Same package selection as build/root/Makefile.generated_files (KUBE target): directories of
# .go files with a `// +k8s:` tag and a `+k8s:openapi-gen=` tag, staging/src named vendor/.
echo "k8s build: [$(elapsed)s] openapi-gen" >&2
go build -o "$work/tools/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor -o -path ./debian \) -prune \
    -o -type f -name '*.go' -print |
  grep -v -E '^\./staging/src/k8s.io/(code-generator|sample-apiserver)/' |
  { xargs grep -l '^// *+k8s:' || true; } | { xargs grep -l '+k8s:openapi-gen=' || true; } |
  sed -e 's|/[^/]*$||' -e 's|^\./staging/src/|vendor/|' -e 's|^\./||' -e 's|^|k8s.io/kubernetes/|' |
  LC_ALL=C sort -u | paste -sd, -)
"$work/tools/openapi-gen" --logtostderr \
  -i "$dirs" \
  -p k8s.io/kubernetes/pkg/generated/openapi \
  -O zz_generated.openapi \
  -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
  -r "$work/openapi-violations.report" 2>"$work/openapi-gen.log" || {
  tail -n 20 "$work/openapi-gen.log" >&2
  exit 1
}
test -s pkg/generated/openapi/zz_generated.openapi.go

# --- 5. Build, with the version set as upstream's hack/lib/version.sh does. ---
version=$(ocaas_k8s_upstream_version)
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in client-go/pkg/version component-base/version; do
  for kv in "gitVersion=v$version" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=archive" \
    "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$kv"
  done
done
echo "k8s build: [$(elapsed)s] go build kube-apiserver kube-controller-manager" >&2
mkdir -p "$work/out"
go build -tags selinux,notest -ldflags "$ldflags" -o "$work/out/" \
  ./cmd/kube-apiserver ./cmd/kube-controller-manager
"$work/out/kube-apiserver" --version >&2

rm -rf "$OCAAS_K8S_BIN.tmp"
mv "$work/out" "$OCAAS_K8S_BIN.tmp"
rm -rf "$OCAAS_K8S_BIN"
mv "$OCAAS_K8S_BIN.tmp" "$OCAAS_K8S_BIN"
cd /
rm -rf "$work"
echo "k8s build: done in $(elapsed)s; Go build cache in $GOCACHE ($(du -sh "$GOCACHE" | cut -f1))" >&2
echo "$OCAAS_K8S_BIN"

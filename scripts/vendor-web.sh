#!/usr/bin/env bash
# Vendor the web console's browser libraries (xterm.js, its fit addon, noVNC) into
# web-static/vendor/ (gitignored; the orchestrator serves it at /vendor/), and install
# playwright-core for the browser test into a cache directory outside the clone. Pinned
# versions from the npm registry; nothing is fetched at run time and nothing comes from a CDN.
# A second run is a no-op (stamp file).
#
#   scripts/vendor-web.sh            install if needed (quiet when done)
#   scripts/vendor-web.sh --check    exit 0 and print NODE=... and NODE_MODULES=... when
#                                    vendored; exit 1 with a hint otherwise (installs nothing)
#   scripts/vendor-web.sh --force    reinstall
#
# Cache: $OCAAS_WEB_CACHE (default ~/.cache/ocaas-web)/<stamp>/node_modules.
# Node: the service's Node 24 (/var/cache/ocaas/openclaw/node, scripts/install-openclaw.sh) when
# installed, else the machine's node/npm.
set -euo pipefail

XTERM_VERSION=6.0.0
XTERM_FIT_VERSION=0.11.0
NOVNC_VERSION=1.7.0
PLAYWRIGHT_CORE_VERSION=1.65.1
# Bump when the layout of web-static/vendor/ changes.
LAYOUT=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/web-static/vendor"
stamp="xterm-$XTERM_VERSION.fit-$XTERM_FIT_VERSION.novnc-$NOVNC_VERSION.pw-$PLAYWRIGHT_CORE_VERSION.l$LAYOUT"
cache="${OCAAS_WEB_CACHE:-$HOME/.cache/ocaas-web}/$stamp"
modules="$cache/node_modules"

# Node and npm: prefer the service's Node 24 (its bin/npm wrapper is broken: run npm's CLI
# with that node, as install-openclaw.sh does).
node_dirs=()
[ -n "${OCAAS_OPENCLAW_DIR:-}" ] && node_dirs+=("$OCAAS_OPENCLAW_DIR/node")
node_dirs+=(/var/cache/ocaas/openclaw/node "$HOME/.cache/ocaas/openclaw/node")
NODE="" NPM=()
for d in "${node_dirs[@]}"; do
  if [ -x "$d/bin/node" ] && [ -f "$d/lib/node_modules/npm/bin/npm-cli.js" ]; then
    NODE="$d/bin/node"
    NPM=("$NODE" "$d/lib/node_modules/npm/bin/npm-cli.js")
    break
  fi
done
if [ -z "$NODE" ]; then
  NODE="$(command -v node || true)"
  NPM=(npm)
fi

done_already() {
  [ -f "$vendor/.stamp" ] && [ "$(cat "$vendor/.stamp")" = "$stamp" ] &&
    [ -f "$cache/.installed" ] && [ -d "$modules/playwright-core" ]
}

case "${1:-}" in
  --check)
    if done_already && [ -n "$NODE" ]; then
      echo "NODE=$NODE"
      echo "NODE_MODULES=$modules"
      exit 0
    fi
    echo "vendor-web: web-static/vendor/ or the browser-test modules are missing or stale: run scripts/vendor-web.sh (make does)" >&2
    exit 1
    ;;
  --force) rm -f "$vendor/.stamp" "$cache/.installed" ;;
  "") ;;
  *) echo "usage: $0 [--check|--force]" >&2; exit 2 ;;
esac

done_already && exit 0

if [ -z "$NODE" ]; then
  echo "vendor-web: no node found (run scripts/install-openclaw.sh, or install nodejs/npm)" >&2
  exit 1
fi

if [ ! -f "$cache/.installed" ]; then
  echo "vendor-web: installing @xterm/xterm@$XTERM_VERSION @xterm/addon-fit@$XTERM_FIT_VERSION @novnc/novnc@$NOVNC_VERSION playwright-core@$PLAYWRIGHT_CORE_VERSION into $cache"
  mkdir -p "$cache"
  # A package.json of our own, so npm installs here and not in a parent directory's project.
  cat >"$cache/package.json" <<EOF
{ "name": "ocaas-web-vendor", "private": true, "version": "0.0.0" }
EOF
  (cd "$cache" && PATH="$(dirname "$NODE"):$PATH" "${NPM[@]}" install \
    --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error \
    "@xterm/xterm@$XTERM_VERSION" "@xterm/addon-fit@$XTERM_FIT_VERSION" \
    "@novnc/novnc@$NOVNC_VERSION" "playwright-core@$PLAYWRIGHT_CORE_VERSION")
  touch "$cache/.installed"
fi

# Copy only what a browser needs. Build into a temporary directory, then swap it in.
tmp="$(mktemp -d "$root/web-static/.vendor.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xterm" "$tmp/novnc"
cp "$modules/@xterm/xterm/lib/xterm.mjs" "$modules/@xterm/xterm/css/xterm.css" "$tmp/xterm/"
cp "$modules/@xterm/addon-fit/lib/addon-fit.mjs" "$tmp/xterm/"
cp "$modules/@xterm/xterm/LICENSE" "$tmp/xterm/LICENSE"
cp -R "$modules/@novnc/novnc/core" "$tmp/novnc/core"
# noVNC's core imports pako (zlib) from ../vendor/pako.
if [ -d "$modules/@novnc/novnc/vendor/pako" ]; then
  mkdir -p "$tmp/novnc/vendor"
  cp -R "$modules/@novnc/novnc/vendor/pako" "$tmp/novnc/vendor/pako"
fi
cp "$modules/@novnc/novnc/LICENSE.txt" "$tmp/novnc/LICENSE.txt" 2>/dev/null || true
echo "$stamp" >"$tmp/.stamp"
chmod -R a+rX "$tmp"
rm -rf "$vendor"
mv "$tmp" "$vendor"
trap - EXIT
echo "vendor-web: web-static/vendor/ ready ($stamp)"

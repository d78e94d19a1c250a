#!/usr/bin/env bash
# Installs the web console's third-party code as console/package-lock.json pins it (the
# graph layout libraries, @dagrejs/dagre and d3-dag), from the npm registry, and puts their
# modules where the server's build embeds them: $CARGO_TARGET_DIR (default: the
# repository's target/)/console/vendor/. The console's own files (console/*.html, *.js,
# *.css) need no build.
#
#   bash scripts/build-console.sh     # from any directory; idempotent, quiet when done
#
# `npm ci` never rewrites the lock; scripts/check-locks.sh says when it is stale.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/console"
vendor_dir="$work_dir/vendor"
stamp="$work_dir/.installed"
log() { printf '[console] %s\n' "$*" >&2; }

if [ -f "$stamp" ] && cmp -s "$repo_dir/console/package-lock.json" "$stamp" && [ -f "$vendor_dir/dagre.esm.js" ] && [ -f "$vendor_dir/d3-dag.esm.js" ]; then
    exit 0
fi
PATH="$(bash "$repo_dir/sdk/js/node.sh"):$PATH"
log "installing the console's graph layout libraries (@dagrejs/dagre, d3-dag, as console/package-lock.json pins them) from the npm registry"
mkdir -p "$work_dir"
rm -rf "$stamp" "$work_dir/node_modules"
cp "$repo_dir/console/package.json" "$repo_dir/console/package-lock.json" "$work_dir/"
if ! (cd "$work_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
    log "error: npm could not install console/package-lock.json (see above); check that the npm registry is reachable, then run this again"
    exit 1
fi
mkdir -p "$vendor_dir"
rm -f "$vendor_dir/dagre.min.js"
cp "$work_dir/node_modules/@dagrejs/dagre/dist/dagre.esm.js" "$vendor_dir/dagre.esm.js"
cp "$work_dir/node_modules/@dagrejs/dagre/LICENSE" "$vendor_dir/dagre.LICENSE" 2>/dev/null || true
# d3-dag's ES module bundles its own dependencies: it is the one file the page loads.
cp "$work_dir/node_modules/d3-dag/dist/d3-dag.esm.min.mjs" "$vendor_dir/d3-dag.esm.js"
cp "$work_dir/node_modules/d3-dag/LICENSE" "$vendor_dir/d3-dag.LICENSE" 2>/dev/null || true
cp "$repo_dir/console/package-lock.json" "$stamp"

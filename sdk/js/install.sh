#!/usr/bin/env bash
# Installs the toolchain that builds JavaScript plugins exactly as sdk/js/toolchain/package-lock.json
# pins it (every package, with its checksum): componentize-qjs (QuickJS engine, the default),
# @bytecodealliance/componentize-js (StarlingMonkey engine) and rolldown (bundler), from the
# npm registry, into $CARGO_TARGET_DIR/guest-tools/js (default: the repository's
# target/guest-tools/js).
#
#   bash sdk/js/install.sh        # from any directory; idempotent, quiet when all is there
#
# Needs Node.js >= 20.19 with npm; sdk/js/node.sh installs a pinned one when the machine's is
# missing or older. `npm ci` never rewrites the lock: whatever the registry publishes later,
# the same packages install. A maintainer checks whether the lock is stale with
# scripts/check-locks.sh (README, "Pinned dependencies").
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$(dirname "$sdk_dir")")"
tools_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/js"
toolchain="$sdk_dir/toolchain"

# The stamp holds the files the install came from: when they match, nothing to do.
stamp="$tools_dir/.installed"
sources=("$toolchain/package.json" "$toolchain/package-lock.json" "$toolchain/tools.mjs" "$toolchain/check.mjs")
installed() {
    [ -f "$stamp" ] && [ -d "$tools_dir/node_modules" ] && cat "${sources[@]}" | cmp -s - "$stamp"
}
installed && exit 0

PATH="$(bash "$sdk_dir/node.sh"):$PATH"

# One install at a time (plugins/build.sh and the host tests may build at once); the one
# that waited finds the work done.
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.lock"
flock 9
installed && exit 0

echo "[sdk/js] installing the JavaScript plugin toolchain into $tools_dir (componentize-qjs, componentize-js and rolldown as sdk/js/toolchain/package-lock.json pins them, from the npm registry)" >&2
rm -rf "$stamp" "$tools_dir/node_modules"
cp "${sources[@]}" "$tools_dir/"
# No package of the toolchain needs its install scripts: native parts come as per-platform
# packages that the lock lists, and npm picks this platform's.
if ! (cd "$tools_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
    echo "[sdk/js] error: npm could not install the toolchain from sdk/js/toolchain/package-lock.json (see above)." >&2
    echo "         If npm says the lock and package.json are not in sync, package.json was edited without" >&2
    echo "         regenerating the lock: run \`bash scripts/check-locks.sh --write\`. Otherwise check that the" >&2
    echo "         npm registry is reachable and run this again." >&2
    exit 1
fi
# The pinned versions of the tools, and this platform's native packages, present and loading.
node "$tools_dir/check.mjs" "$tools_dir"
cat "${sources[@]}" >"$stamp"

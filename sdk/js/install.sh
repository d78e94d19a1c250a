#!/usr/bin/env bash
# Installs the toolchain that builds JavaScript plugins, pinned by toolchain/package-lock.json:
# componentize-qjs (QuickJS engine, the default), @bytecodealliance/componentize-js
# (StarlingMonkey engine) and rolldown (bundler), all from the npm registry, into
# $CARGO_TARGET_DIR/guest-tools/js (default: the repository's target/guest-tools/js).
#
#   bash sdk/js/install.sh        # from any directory; idempotent, quiet when all is there
#
# Needs Node.js >= 20.19 and npm (the machine's; Debian's `nodejs npm` when there is none).
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$(dirname "$sdk_dir")")"
tools_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/js"
toolchain="$sdk_dir/toolchain"

# The stamp holds the three files the install came from: when they match, nothing to do.
stamp="$tools_dir/.installed"
installed() {
    [ -f "$stamp" ] && [ -d "$tools_dir/node_modules" ] &&
        cat "$toolchain/package.json" "$toolchain/package-lock.json" "$toolchain/tools.mjs" | cmp -s - "$stamp"
}
installed && exit 0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing Node.js and npm (Debian packages nodejs npm)" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >&2
fi
# rolldown, the bundler, needs Node.js 20.19 or later.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "error: building JavaScript plugins needs Node.js >= 20.19; this is $(node --version)" >&2
    exit 1
fi

# One install at a time (plugins/build.sh and the host tests may build at once); the one
# that waited finds the work done.
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.lock"
flock 9
installed && exit 0

echo "installing the JavaScript plugin toolchain into $tools_dir (componentize-qjs 0.4.5, componentize-js 0.23.0, rolldown 1.3.2, from the npm registry)" >&2
rm -rf "$stamp" "$tools_dir/node_modules"
cp "$toolchain/package.json" "$toolchain/package-lock.json" "$toolchain/tools.mjs" "$tools_dir/"
# Not `npm ci`: the registry lacks the native packages of some other platforms (darwin,
# windows), which the lock file therefore cannot list, and `npm ci` refuses such a lock.
# `npm install` on a fresh tree follows the lock just as well; the check below makes sure
# it did not need to change it. No package of the toolchain has install scripts.
(cd "$tools_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
if ! cmp -s "$toolchain/package-lock.json" "$tools_dir/package-lock.json"; then
    echo "error: sdk/js/toolchain/package-lock.json does not match sdk/js/toolchain/package.json;" >&2
    echo "       regenerate it: copy package.json into an empty directory, run" >&2
    echo "       \`npm install --ignore-scripts\` there and copy its package-lock.json back" >&2
    exit 1
fi
cat "$toolchain/package.json" "$toolchain/package-lock.json" "$toolchain/tools.mjs" >"$stamp"

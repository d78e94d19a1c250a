#!/usr/bin/env bash
# Builds a JavaScript plugin into a Harmonia component; plugins/build.sh calls it for every
# plugins/<name>/ that holds a package.json or *.js files.
#
#   bash sdk/js/build-plugin.sh <plugin-dir | entry.js> <out.wasm> [--engine quickjs|starlingmonkey]
#
# Works from any directory. Installs the toolchain first if it is missing (install.sh), then
# runs bin/harmonia-js-build.mjs with node.sh's Node.js; it skips the build when nothing changed.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: bash sdk/js/build-plugin.sh <plugin-dir | entry.js> <out.wasm> [--engine quickjs|starlingmonkey]" >&2
    exit 2
fi
sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$1" out="$2"
shift 2

bash "$sdk_dir/install.sh"
PATH="$(bash "$sdk_dir/node.sh"):$PATH"
exec node "$sdk_dir/bin/harmonia-js-build.mjs" "$plugin" -o "$out" "$@"

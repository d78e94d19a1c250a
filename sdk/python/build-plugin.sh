#!/usr/bin/env bash
# Builds one Python plugin directory into a component, with the pinned componentize-py
# that install.sh puts under target/guest-tools/python. Skips the build when the plugin's
# sources, the SDK, the WIT and the tool are those of the last build.
#
#   bash sdk/python/build-plugin.sh plugins/textstats target/guest-plugins/textstats.wasm
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <plugin-dir> <out.wasm>" >&2
    exit 2
fi

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
venv="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/python/venv"

bash "$sdk_dir/install.sh"
PYTHONPATH="$sdk_dir${PYTHONPATH:+:$PYTHONPATH}" \
    "$venv/bin/python" -m harmonia build "$1" -o "$2" --wit "$repo_dir/wit" --if-changed

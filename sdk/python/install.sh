#!/usr/bin/env bash
# Installs the Python plugin toolchain: componentize-py (PyPI, pinned) in a virtualenv under
# target/guest-tools/python/venv (or $CARGO_TARGET_DIR/guest-tools/python/venv), plus the
# Debian packages python3 and python3-venv when they are missing. Idempotent and quiet when
# everything is there; prints what it installs on stderr.
#
#   bash sdk/python/install.sh     # from any directory; prints nothing when all is there
set -euo pipefail

componentize_py_version=0.25.1

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
tools_dir="${CARGO_TARGET_DIR:-$repo_dir/target}/guest-tools/python"
venv="$tools_dir/venv"
stamp="$venv/.harmonia-componentize-py-$componentize_py_version"

log() { printf '[sdk/python] %s\n' "$*" >&2; }

# Fast path: the pinned version is in place (a stamp file, so no Python start-up).
if [ -f "$stamp" ] && [ -x "$venv/bin/componentize-py" ]; then
    exit 0
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1; fi
}

# Debian's python3 has no venv/ensurepip until python3-venv is installed.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    log "installing Debian packages: python3 python3-venv"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating a virtualenv in $venv"
    mkdir -p "$tools_dir"
    python3 -m venv "$venv"
fi

log "installing componentize-py==$componentize_py_version from PyPI"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$componentize_py_version"
rm -f "$venv"/.harmonia-componentize-py-*
touch "$stamp"

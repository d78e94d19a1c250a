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

# The venv's interpreter links to the python3 it was made with: when that one goes away (a
# removed pyenv version, a Debian upgrade) the venv is broken for good and must be remade.
venv_works() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null; }

# Fast path: the pinned version is in place (a stamp file) and the venv still runs (one
# interpreter start, no imports).
installed() { [ -f "$stamp" ] && [ -x "$venv/bin/componentize-py" ] && venv_works; }
installed && exit 0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1; fi
}

# One install at a time (plugins/build.sh and the host tests may build at once, sharing
# target/): two pip runs in one venv would collide. The one that waited finds the work done.
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.lock"
flock 9
installed && exit 0

# Debian's python3 has no venv/ensurepip until python3-venv is installed.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    log "installing Debian packages: python3 python3-venv"
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq python3 python3-venv >/dev/null; }; then
        log "error: could not install python3 and python3-venv (see above); install a python3 with venv, then run this again"
        exit 1
    fi
fi

if ! venv_works; then
    if [ -e "$venv" ]; then
        log "the virtualenv in $venv does not run (its python3 is gone?): recreating it"
        rm -rf "$venv"
    else
        log "creating a virtualenv in $venv"
    fi
    python3 -m venv "$venv"
fi

log "installing componentize-py==$componentize_py_version from PyPI"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$componentize_py_version"; then
    log "error: pip could not install componentize-py==$componentize_py_version (see above); check that PyPI is reachable, then run this again"
    exit 1
fi
rm -f "$venv"/.harmonia-componentize-py-*
touch "$stamp"

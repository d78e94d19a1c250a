#!/usr/bin/env bash
# A maintainer's check: are the project's pins still what the registries would resolve today?
# Installs never depend on this (each installs exactly what is committed); this says when a
# pin file is stale or out of step with what it pins, and regenerates it with --write.
#
#   bash scripts/check-locks.sh            # report; exits 1 when a pin file differs
#   bash scripts/check-locks.sh --write    # regenerate the pin files that differ
#   HARMONIA_CHECK_LOCKS=1 bash .ci/run    # CI runs it only when asked (a registry change
#                                          # must never redden an ordinary run)
#
# What it checks:
#   sdk/js/toolchain/package-lock.json, sdk/js/node/package-lock.json, console/package-lock.json
#       npm resolves package.json afresh (--package-lock-only, in an empty directory); every
#       package path and version must match the committed lock (a new platform package that a
#       tool lists, a changed pin). Needs npm.
#   scripts/openapi-requirements.txt, scripts/fuzz-requirements.txt
#       pip installs openapi-spec-validator (schemathesis) at its pinned version into an
#       empty virtualenv; what it resolved must equal the file.
#   sdk/python/install.sh (componentize-py)
#       the pinned componentize-py still needs nothing else from PyPI.
#   Cargo.lock of every workspace (., plugins, sdk/rust, sdk/c/tool)
#       cargo can resolve the manifests from the lock alone (`cargo metadata --locked`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

write=false
[ "${1:-}" = --write ] && write=true
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
stale=0

log() { printf '[check-locks] %s\n' "$*" >&2; }

# differs <name> <committed> <fresh>: reports and, with --write, replaces the committed file.
differs() {
    local name="$1" committed="$2" fresh="$3"
    stale=$((stale + 1))
    if $write; then
        cp "$fresh" "$committed"
        log "$name: rewritten ($committed)"
    else
        log "$name: $committed is stale; \`bash scripts/check-locks.sh --write\` regenerates it"
    fi
}

# npm_lock <dir>: <dir>/package-lock.json against a fresh resolution of <dir>/package.json.
npm_lock() {
    local dir="$1" work="$scratch/npm-${1//\//-}"
    mkdir -p "$work"
    cp "$dir/package.json" "$work/"
    (cd "$work" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    # Paths and versions: what would be installed. (Checksums follow from the versions.)
    local list='const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        for (const [p, e] of Object.entries(l.packages)) if (p) console.log(`${p}@${e.version}`);'
    if diff <(node -e "$list" "$dir/package-lock.json" | sort) <(node -e "$list" "$work/package-lock.json" | sort) >"$work/diff"; then
        log "$dir/package-lock.json: current"
    else
        sed 's/^/    /' "$work/diff" >&2
        differs "npm" "$dir/package-lock.json" "$work/package-lock.json"
    fi
}

# pip_freeze <requirement> <out>: what pip installs for one requirement, in an empty venv.
pip_freeze() {
    local venv="$scratch/venv-${1%%=*}"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$1"
    "$venv/bin/python" -m pip freeze --disable-pip-version-check >"$2"
}

npm_lock sdk/js/toolchain
npm_lock sdk/js/node
npm_lock console

# pip_pins <requirements> <package>: the pins of <requirements> against what pip resolves for
# <package> at the version pinned there, in an empty virtualenv.
pip_pins() {
    local requirements="$1" package="$2" name
    name="$(basename "$requirements" .txt)"
    pip_freeze "$(grep -m1 "^$package==" "$requirements")" "$scratch/$name.txt"
    if diff <(grep -v '^#' "$requirements") "$scratch/$name.txt" >"$scratch/$name.diff"; then
        log "$requirements: current"
    else
        sed 's/^/    /' "$scratch/$name.diff" >&2
        { grep '^#' "$requirements"; cat "$scratch/$name.txt"; } >"$scratch/$name.new"
        differs "pip" "$requirements" "$scratch/$name.new"
    fi
}

pip_pins scripts/openapi-requirements.txt openapi-spec-validator
pip_pins scripts/fuzz-requirements.txt schemathesis

componentize_py="componentize-py==$(sed -n 's/^componentize_py_version=//p' sdk/python/install.sh)"
pip_freeze "$componentize_py" "$scratch/componentize-py.txt"
if [ "$(cat "$scratch/componentize-py.txt")" = "$componentize_py" ]; then
    log "$componentize_py: needs nothing else"
else
    log "$componentize_py now pulls in more packages; pin them in sdk/python/install.sh:"
    sed 's/^/    /' "$scratch/componentize-py.txt" >&2
    stale=$((stale + 1))
fi

for manifest in Cargo.toml plugins/Cargo.toml sdk/rust/Cargo.toml sdk/c/tool/Cargo.toml; do
    if cargo metadata --locked --format-version 1 --manifest-path "$manifest" >/dev/null 2>"$scratch/cargo.err"; then
        log "${manifest%Cargo.toml}Cargo.lock: current"
    else
        sed 's/^/    /' "$scratch/cargo.err" >&2
        log "${manifest%Cargo.toml}Cargo.lock does not match its manifests: run \`cargo update --workspace --manifest-path $manifest\` and commit the lock"
        stale=$((stale + 1))
    fi
done

if [ "$stale" -gt 0 ] && ! $write; then
    log "$stale pin file(s) to regenerate"
    exit 1
fi

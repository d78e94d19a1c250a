#!/usr/bin/env bash
# Validates the HTTP API's OpenAPI document (`harmonia openapi`, what the server serves at
# /api/v1/openapi.json) against the OpenAPI 3.1 specification, with openapi-spec-validator
# in a virtualenv under target/guest-tools/openapi, with every package it needs pinned by
# scripts/openapi-requirements.txt (PyPI). Expects the debug `harmonia` binary to be built
# (scripts/test.sh builds it first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=scripts/openapi-requirements.txt
target="${CARGO_TARGET_DIR:-target}"
venv="$target/guest-tools/openapi/venv"
stamp="$venv/.installed"

if ! { cmp -s "$requirements" "$stamp" && "$venv/bin/python" -c '' 2>/dev/null; }; then
    echo "[openapi] installing openapi-spec-validator as $requirements pins it, from PyPI" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" || {
        echo "[openapi] error: python3 -m venv failed; on Debian install python3-venv" >&2
        exit 1
    }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || {
        echo "[openapi] error: pip could not install $requirements (see above); check that PyPI is reachable" >&2
        exit 1
    }
    cp "$requirements" "$stamp"
fi

document="$(mktemp --suffix=.json)"
trap 'rm -f "$document"' EXIT
"$target/debug/harmonia" openapi > "$document"
"$venv/bin/openapi-spec-validator" "$document"

#!/usr/bin/env bash
# Validates the HTTP API's OpenAPI document (`harmonia openapi`, what the server serves at
# /api/v1/openapi.json) against the OpenAPI 3.1 specification, with openapi-spec-validator
# (PyPI, pinned) in a virtualenv under target/guest-tools/openapi. Expects the debug
# `harmonia` binary to be built (scripts/test.sh builds it first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=0.9.0
target="${CARGO_TARGET_DIR:-target}"
venv="$target/guest-tools/openapi/venv"
stamp="$venv/.openapi-spec-validator-$version"

if ! { [ -f "$stamp" ] && "$venv/bin/python" -c '' 2>/dev/null; }; then
    echo "[openapi] installing openapi-spec-validator==$version from PyPI" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==$version"
    touch "$stamp"
fi

document="$(mktemp --suffix=.json)"
trap 'rm -f "$document"' EXIT
"$target/debug/harmonia" openapi > "$document"
"$venv/bin/openapi-spec-validator" "$document"

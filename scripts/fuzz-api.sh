#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document: schemathesis (pinned by
# scripts/fuzz-requirements.txt, PyPI, in a virtualenv under target/guest-tools/fuzz) runs
# every operation of a real `harmonia serve` on a loopback port, with every check
# (`--checks all`): no 5xx, every status and body as documented (every 4xx the JSON error),
# requests the schema allows accepted and those it forbids refused, deleted things gone,
# created things there, no request served without its token. The server runs over copies of
# the bundled plugins and workflows and a fresh data directory (the fuzzer deletes and
# uploads plugins, workflows and templates), with an admin token; the one request left out
# is revoking that token (scripts/fuzz_api_hooks.py). Exits non-zero on any failure, which
# schemathesis prints with a curl command that reproduces it.
#
# Expects the debug `harmonia` binary to be built (scripts/test.sh builds it first).
#   HARMONIA_FUZZ_EXAMPLES   test cases per operation and phase (50)
#   HARMONIA_FUZZ_SEED       the seed (1), for a run that can be repeated
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

requirements=scripts/fuzz-requirements.txt
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
venv="$target/guest-tools/fuzz/venv"
stamp="$venv/.installed"
harmonia="$target/debug/harmonia"
examples="${HARMONIA_FUZZ_EXAMPLES:-50}"
seed="${HARMONIA_FUZZ_SEED:-1}"

log() { printf '[fuzz-api] %s\n' "$*" >&2; }

if ! { cmp -s "$requirements" "$stamp" && "$venv/bin/python" -c '' 2>/dev/null; }; then
    log "installing schemathesis as $requirements pins it, from PyPI"
    rm -rf "$venv"
    python3 -m venv "$venv" || {
        log "error: python3 -m venv failed; on Debian install python3-venv"
        exit 1
    }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || {
        log "error: pip could not install $requirements (see above); check that PyPI is reachable"
        exit 1
    }
    cp "$requirements" "$stamp"
fi
[ -x "$harmonia" ] || { log "error: $harmonia is missing: build it first (cargo build -p harmonia)"; exit 1; }

# Never the repository's own plugins/ and workflows/: the fuzzer deletes and replaces them.
scratch="$(mktemp -d)"
server=""
stop() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        # Stops cleanly within seconds; an event stream left open is not waited for long.
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap stop EXIT
trap 'exit 130' INT TERM

mkdir -p "$scratch/plugins" "$scratch/data"
cp plugins/*.wasm plugins/*.toml "$scratch/plugins/"
cp -r workflows "$scratch/workflows"
# ergon's manifest grants workflows/examples-data relative to where the server runs.
cd "$scratch"

# The bundled plugins compiled once for the tests (scripts/test.sh); compiled on first use
# otherwise.
export HARMONIA_COMPILE_CACHE="${HARMONIA_COMPILE_CACHE:-$target/compile-cache}"
unset HARMONIA_PLUGINS HARMONIA_WORKFLOWS HARMONIA_LISTEN HARMONIA_DATA HARMONIA_CONFIG
token_name=fuzz
token="$("$harmonia" token create --data data --role admin --name "$token_name" 2>"$scratch/token.log")" || {
    cat "$scratch/token.log" >&2
    exit 1
}

"$harmonia" serve --listen 127.0.0.1:0 --data data --workflows workflows --plugins plugins \
    >"$scratch/stdout" 2>"$scratch/stderr" &
server=$!
base=""
for _ in $(seq 1200); do
    base="$(sed -n '1s/^harmonia listening on //p' "$scratch/stdout")"
    [ -n "$base" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$base" ]; then
    log "error: harmonia serve did not start; its log:"
    cat "$scratch/stderr" >&2
    exit 1
fi
log "fuzzing $base: $examples examples per operation, seed $seed"

status=0
HARMONIA_FUZZ_TOKEN_NAME="$token_name" SCHEMATHESIS_HOOKS=fuzz_api_hooks PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$repo/scripts" \
    "$venv/bin/schemathesis" --config-file "$repo/scripts/fuzz-api.toml" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples "$examples" \
    --seed "$seed" \
    --generation-database none \
    --no-color \
    || status=$?
[ "$status" -eq 0 ] || log "schemathesis failed (exit $status): it lists each failure above, with a curl command that reproduces it"
# The run was authenticated to its end: its token was never revoked.
if ! "$venv/bin/python" - "$base" "$token" <<'EOF'
import sys, requests
answer = requests.get(sys.argv[1] + "/api/v1/tokens", headers={"Authorization": "Bearer " + sys.argv[2]}, timeout=10)
sys.exit(answer.status_code != 200)
EOF
then
    log "error: the fuzzing token no longer works: the requests after its revocation were refused, not tested"
    status=1
fi
if [ "$status" -ne 0 ]; then
    log "the end of the server's log:"
    tail -n 40 "$scratch/stderr" >&2
fi
exit "$status"

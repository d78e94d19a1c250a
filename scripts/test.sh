#!/usr/bin/env bash
# Runs every test: the host workspace (unit, component-host, CLI and end-to-end tests) and
# the guest SDK's own unit tests. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The console's browser tests drive a real headless Chromium.
bash scripts/install-browser.sh

echo "== host workspace: build"
# The same build as the test run below (a plain `cargo build -p harmonia` would resolve
# other features and compile half of the dependencies twice).
cargo test --workspace --no-run "$@"

# Compile the bundled plugins once into the tests' compile cache (target/compile-cache; the
# tests point HARMONIA_COMPILE_CACHE there) before the tests start: the CLI and
# workflow tests start many hosts at once, and Python and JavaScript components take seconds
# each to compile.
echo "== compile cache"
HARMONIA_COMPILE_CACHE=target/compile-cache "${CARGO_TARGET_DIR:-target}/debug/harmonia" plugin list --plugins plugins >/dev/null

# The habits every change keeps: rustfmt.toml's formatting (host workspace, guest SDK and
# bundled plugins) and no clippy warning with the workspace's lints.
echo "== format and lints"
cargo fmt --all --check
cargo fmt --all --check --manifest-path sdk/rust/Cargo.toml
cargo fmt --all --check --manifest-path plugins/Cargo.toml
cargo clippy --workspace --all-targets -- -D warnings

# The crate boundaries of DESIGN.md: the runner embeds without wasmtime, HTTP, TLS or a
# command line (its tests neither: they use a test task runner), nor a storage backend;
# the store trait has no backend; the model and the engine do no I/O.
echo "== crate boundaries"
boundary() { # crate, edges (cargo tree -e), what it must not depend on
    local found
    found=$(cargo tree --locked -p "$1" -e "$2" --prefix none | grep -E "^($3) v" | sort -u || true)
    if [ -n "$found" ]; then
        echo "error: $1 depends ($2) on what it must not:" >&2
        echo "$found" >&2
        exit 1
    fi
}
boundary harmonia-runner all 'wasmtime|axum|hyper|clap|rustls'
boundary harmonia-runner normal 'rocksdb'
boundary harmonia-store all 'rocksdb|librocksdb-sys|tokio-postgres'
boundary harmonia-engine normal 'tokio|harmonia-store|wasmtime'
boundary harmonia-model normal 'tokio|harmonia-store|wasmtime'

echo "== host workspace: test"
cargo test --workspace --no-fail-fast "$@"

# The API's OpenAPI document is valid OpenAPI 3.1 (the host tests check that it matches the
# routes of a real server).
echo "== OpenAPI document"
bash scripts/check-openapi.sh

# The API against that document: schemathesis fuzzes every operation of a real server (no
# 5xx, every status and body as documented, every 4xx the JSON error).
echo "== API fuzzing"
bash scripts/fuzz-api.sh

# The guest crates' pure logic also runs on the host target (wit-bindgen stubs the imports).
echo "== guest SDK and bundled plugins (host target)"
cargo test --manifest-path sdk/rust/Cargo.toml --target-dir target/guest-test --all-features
cargo test --manifest-path plugins/Cargo.toml --target-dir target/guest-test --workspace

# The other SDKs' own unit tests, each on the host with its own toolchain.
for lang in python js c; do
  echo "== $lang SDK"
  bash "sdk/$lang/test.sh"
done

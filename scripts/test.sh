#!/usr/bin/env bash
# Runs every test: the host workspace (unit, component-host, CLI and end-to-end tests) and
# the guest SDK's own unit tests. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== host workspace"
cargo test --workspace --no-fail-fast "$@"

echo "== guest SDK (host target)"
cargo test --manifest-path sdk/rust/Cargo.toml --target-dir target/sdk-test

#!/usr/bin/env bash
# Installs what Harmonia needs on a fresh Debian 12 machine with rustup, then builds the
# bundled plugins. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

# System packages: a C toolchain for -sys crates; RocksDB from Debian (linked dynamically,
# see .cargo/config.toml), and clang with libclang for librocksdb-sys's bindgen step.
apt_packages=(build-essential pkg-config clang libclang-dev librocksdb-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Rust: the host builds with the stable toolchain; guests need the wasm32-wasip2 target.
if ! command -v cargo >/dev/null; then
  log "cargo not found: install rustup (https://rustup.rs) first"; exit 1
fi
# Not `rustup ... | grep -q`: with pipefail, grep quitting early can fail the pipeline.
installed_targets="$(rustup target list --installed)"
if ! grep -qx wasm32-wasip2 <<<"$installed_targets"; then
  log "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

log "building the bundled plugins"
bash plugins/build.sh

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
# found by pkg-config below), and clang with libclang for librocksdb-sys's bindgen step.
apt_packages=(build-essential pkg-config clang libclang-dev librocksdb-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    log "error: could not install ${missing[*]} (see above); install them with apt-get, then run this again"
    exit 1
  fi
fi

# Where librocksdb-dev put the library depends on the architecture (/usr/lib/<multiarch>):
# ask its pkg-config file, and tell the rocksdb crate through cargo's configuration, which
# every cargo command in the repository reads. Written only when it changes, so that
# librocksdb-sys is not rebuilt.
rocksdb_lib_dir="$(pkg-config --variable=libdir rocksdb 2>/dev/null || true)"
if [ ! -e "$rocksdb_lib_dir/librocksdb.so" ]; then
  rocksdb_lib_dir="/usr/lib/$(gcc -print-multiarch)"
fi
if [ ! -e "$rocksdb_lib_dir/librocksdb.so" ]; then
  log "error: librocksdb.so is neither where pkg-config says nor in $rocksdb_lib_dir; reinstall librocksdb-dev"
  exit 1
fi
cargo_config="# Written by scripts/setup.sh for this machine; not committed (the directory differs by
# architecture). RocksDB comes from Debian (librocksdb-dev 7.8) and is linked dynamically:
# compiling the bundled C++ sources took 21 minutes on a 2-core machine, more than the rest
# of the build. The rocksdb crate is pinned to 0.20.1, whose C API matches that library.
[env]
ROCKSDB_LIB_DIR = \"$rocksdb_lib_dir\"
"
mkdir -p .cargo
if [ "$(cat .cargo/config.toml 2>/dev/null)" != "${cargo_config%$'\n'}" ]; then
  log "RocksDB library: $rocksdb_lib_dir (written to .cargo/config.toml)"
  printf '%s' "$cargo_config" >.cargo/config.toml.tmp
  mv .cargo/config.toml.tmp .cargo/config.toml
fi

# Rust: the host builds with the stable toolchain; guests need the wasm32-wasip2 target.
if ! command -v cargo >/dev/null || ! command -v rustup >/dev/null; then
  log "error: cargo and rustup not found: install rustup (https://rustup.rs), then run this again"; exit 1
fi
# Not `rustup ... | grep -q`: with pipefail, grep quitting early can fail the pipeline.
installed_targets="$(rustup target list --installed)"
if ! grep -qx wasm32-wasip2 <<<"$installed_targets"; then
  log "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2 || {
    log "error: rustup could not add the wasm32-wasip2 target (see above); run \`rustup target add wasm32-wasip2\` when it can reach its server"
    exit 1
  }
fi

# rustfmt and clippy: the test suite checks formatting and lints.
installed_components="$(rustup component list --installed)"
for component in rustfmt clippy; do
  if ! grep -q "^$component" <<<"$installed_components"; then
    log "adding the $component component"
    rustup component add "$component" || {
      log "error: rustup could not add $component (see above); run \`rustup component add $component\` when it can reach its server"
      exit 1
    }
  fi
done

log "building the bundled plugins"
bash plugins/build.sh

log "installing the web console's graph layout library"
bash scripts/build-console.sh

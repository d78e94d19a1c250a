#!/usr/bin/env bash
# Installs the toolchain of C plugins, only what is missing; quiet and fast when all is there.
#
#   Debian 12 packages  clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
#                       (clang for wasm32-wasi, its linker, the C library, the builtins)
#   harmonia-c          sdk/c/tool, a small Rust program (crates.io, versions pinned by its
#                       Cargo.lock: wit-bindgen-c 0.63, wit-component 0.262, the WASI
#                       preview-1 reactor adapter of wasmtime 48), installed into
#                       $CARGO_TARGET_DIR (or the repository's target/) /guest-tools/c/bin
#
# Prints the path of harmonia-c on stdout when asked with --print-tool; everything else
# goes to stderr. Root on CI; elsewhere apt-get runs through sudo.
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
tools_dir="$target_dir/guest-tools/c"
tool="$tools_dir/bin/harmonia-c"

log() { printf '[sdk/c] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else log "need root to run: $*"; return 1; fi
}

# Debian packages, each checked by a file it installs (faster than dpkg).
declare -A apt_files=(
    [clang-14]=/usr/lib/llvm-14/bin/clang
    [lld-14]=/usr/lib/llvm-14/bin/wasm-ld
    [wasi-libc]=/usr/lib/wasm32-wasi/libc.a
    [libclang-rt-14-dev-wasm32]="/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a"
)
find_missing() {
    missing=()
    for package in clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32; do
        # shellcheck disable=SC2086 # the pattern must expand
        compgen -G ${apt_files[$package]} >/dev/null || missing+=("$package")
    done
}

# harmonia-c, rebuilt when its sources change (the stamp is a hash of them).
stamp="$(cat "$sdk_dir/tool/Cargo.toml" "$sdk_dir/tool/Cargo.lock" "$sdk_dir"/tool/src/*.rs | sha256sum)"
stamp="${stamp%% *}"
tool_current() { [ -x "$tool" ] && [ "$(cat "$tools_dir/stamp" 2>/dev/null)" = "$stamp" ]; }

find_missing
if [ ${#missing[@]} -gt 0 ] || ! tool_current; then
    # One install at a time (plugins/build.sh and the host tests may build at once, sharing
    # target/): two `cargo install --force` into one root, or two apt-get, would collide.
    # The one that waited finds the work done.
    mkdir -p "$tools_dir"
    exec 9>"$tools_dir/.lock"
    flock 9
    find_missing
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        # The package lists of a fresh machine may be empty or stale: update once, then install.
        if ! { as_root apt-get update -qq >/dev/null &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null; }; then
            log "error: could not install ${missing[*]} (see above); install them with apt-get, then run this again"
            exit 1
        fi
    fi
    if ! tool_current; then
        log "building harmonia-c (sdk/c/tool) into $tools_dir"
        command -v cargo >/dev/null || { log "cargo not found: install rustup first"; exit 1; }
        # The shared target dir keeps the build cache; the `guest-tool` profile keeps it apart
        # from the host's own artifacts.
        if ! cargo install --quiet --locked --force --path "$sdk_dir/tool" --root "$tools_dir" \
            --target-dir "$target_dir" --profile guest-tool >&2; then
            log "error: could not build sdk/c/tool (see above); its crates are pinned by sdk/c/tool/Cargo.lock"
            exit 1
        fi
        echo "$stamp" >"$tools_dir/stamp"
    fi
    exec 9>&-
fi

if [ "${1:-}" = --print-tool ]; then
    echo "$tool"
fi

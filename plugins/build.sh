#!/usr/bin/env bash
# Builds every bundled plugin into plugins/<name>.wasm, ready for Harmonia to load.
#
#   bash plugins/build.sh            # all plugins, from any directory
#   bash plugins/build.sh core http  # only these (Rust plugins: crate directories)
#
# A .wasm file is replaced only when its content changed, and atomically, so a host that
# watches plugins/ reloads exactly the plugins that changed. Compiled artifacts go to the
# repository's target/ directory (or $CARGO_TARGET_DIR), shared with every other build.
set -euo pipefail

plugins_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$plugins_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"

# install_wasm <built file> <plugin name>: copies the file to plugins/<name>.wasm if it
# differs, then prints one line with the plugin's size.
install_wasm() {
    local built="$1" name="$2"
    local dest="$plugins_dir/$name.wasm" state="unchanged"
    if ! cmp -s "$built" "$dest"; then
        # Write beside the destination, then rename: a watcher never sees half a file.
        cp "$built" "$plugins_dir/.$name.wasm.tmp"
        mv -f "$plugins_dir/.$name.wasm.tmp" "$dest"
        state="updated"
    fi
    local bytes
    bytes=$(wc -c <"$dest")
    printf '%-8s %8d bytes (%4d KiB)  plugins/%s.wasm  %s\n' "$name" "$bytes" $(((bytes + 1023) / 1024)) "$name" "$state"
}

# rust_plugins: the crate directories of the plugins workspace, one per Rust plugin.
rust_plugins() {
    local manifest
    for manifest in "$plugins_dir"/*/Cargo.toml; do
        [ -f "$manifest" ] && basename "$(dirname "$manifest")"
    done
    return 0
}

# build_rust <name>...: the crate in <name>/ builds the library <name>_plugin, which
# wasm32-wasip2 already links into a component.
build_rust() {
    [ $# -gt 0 ] || return 0
    local target=wasm32-wasip2
    # Not `rustup ... | grep -q`: with pipefail, grep quitting early can fail the pipeline.
    local installed=""
    if command -v rustup >/dev/null; then
        installed="$(rustup target list --installed)"
        if ! grep -qx "$target" <<<"$installed"; then
            echo "installing the Rust target $target" >&2
            rustup target add "$target"
        fi
    fi

    local packages=() name
    for name in "$@"; do
        packages+=(-p "$name")
    done
    cargo build --release --quiet --target "$target" --target-dir "$target_dir" \
        --manifest-path "$plugins_dir/Cargo.toml" "${packages[@]}"

    for name in "$@"; do
        install_wasm "$target_dir/$target/release/${name//-/_}_plugin.wasm" "$name"
    done
}

main() {
    local rust=() name
    if [ $# -eq 0 ]; then
        mapfile -t rust < <(rust_plugins)
    fi
    for name in "$@"; do
        if [ -f "$plugins_dir/$name/Cargo.toml" ]; then
            rust+=("$name")
        else
            echo "unknown plugin \`$name\` (no plugins/$name/Cargo.toml)" >&2
            return 1
        fi
    done
    build_rust "${rust[@]}"
}

main "$@"

#!/usr/bin/env bash
# Builds every bundled plugin into plugins/<name>.wasm, ready for Harmonia to load.
#
#   bash plugins/build.sh            # all plugins, from any directory
#   bash plugins/build.sh core http  # only these (plugin directories under plugins/)
#
# Each directory plugins/<name>/ is one plugin; what it holds says its language:
#   Cargo.toml        Rust, a crate of the plugins workspace (wasm32-wasip2)
#   package.json      JavaScript, built by sdk/js/build-plugin.sh (componentize-qjs or -js)
#   pyproject.toml    Python, built by sdk/python/build-plugin.sh (componentize-py)
#   *.c               C, built by sdk/c/build-plugin.sh (clang, wasi-libc, wit-component)
#   *.py or *.js      Python or JavaScript, when none of the above is there
# The language builders install their own toolchains when they are missing.
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

# plugin_language <dir>: rust, python, js, c, or nothing for a directory that is not a plugin.
plugin_language() {
    local dir="$1"
    # Project files first, so that a helper script in another language does not decide.
    if [ -f "$dir/Cargo.toml" ]; then echo rust
    elif [ -f "$dir/package.json" ]; then echo js
    elif [ -f "$dir/pyproject.toml" ]; then echo python
    elif compgen -G "$dir/*.c" >/dev/null; then echo c
    elif compgen -G "$dir/*.py" >/dev/null; then echo python
    elif compgen -G "$dir/*.js" >/dev/null; then echo js
    fi
}

# build_guest <language> <name>: one plugin with its language's builder, then installed.
build_guest() {
    local lang="$1" name="$2"
    local out="$target_dir/guest-plugins/$name.wasm"
    mkdir -p "$(dirname "$out")"
    bash "$repo_dir/sdk/$lang/build-plugin.sh" "$plugins_dir/$name" "$out"
    install_wasm "$out" "$name"
}

main() {
    local names=() rust=() others=() name dir lang
    if [ $# -eq 0 ]; then
        for dir in "$plugins_dir"/*/; do
            name="$(basename "$dir")"
            [ "$name" = target ] || names+=("$name")
        done
    else
        names=("$@")
    fi
    for name in "${names[@]}"; do
        lang="$(plugin_language "$plugins_dir/$name")"
        case "$lang" in
            rust) rust+=("$name") ;;
            python | js | c) others+=("$lang:$name") ;;
            *)
                # Asked for by name: an error. Found by the scan: not a plugin directory.
                if [ $# -gt 0 ]; then
                    echo "unknown plugin \`$name\` (plugins/$name/ holds no Cargo.toml, *.py, *.js or *.c)" >&2
                    return 1
                fi
                ;;
        esac
    done
    build_rust "${rust[@]}"
    local entry
    for entry in "${others[@]}"; do
        build_guest "${entry%%:*}" "${entry#*:}"
    done
}

main "$@"

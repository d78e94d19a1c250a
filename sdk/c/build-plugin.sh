#!/usr/bin/env bash
# Builds a C plugin into a Harmonia component.
#
#   bash sdk/c/build-plugin.sh <plugin-dir> <out.wasm>
#
# Every *.c file directly in <plugin-dir> is compiled (subfolders such as tests/ are not),
# with the SDK (harmonia.h, src/) and the bindings of wit/plugin.wit, by clang for
# wasm32-wasi (wasi-libc, reactor); harmonia-c then turns the module into a component with
# the WASI preview-1 reactor adapter. Extra compiler flags may come in $CFLAGS.
# Nothing is rebuilt when no input changed. Works from any directory.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <plugin-dir> <out.wasm>" >&2
    exit 2
fi
plugin_dir="$(cd "$1" && pwd)"
out="$2"
name="$(basename "$plugin_dir")"

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
work="$target_dir/guest-plugins/c/$name"

tool="$(bash "$sdk_dir/install.sh" --print-tool)"

shopt -s nullglob
sources=("$plugin_dir"/*.c)
headers=("$plugin_dir"/*.h)
shopt -u nullglob
if [ ${#sources[@]} -eq 0 ]; then
    echo "no *.c file in $plugin_dir" >&2
    exit 1
fi

cc=/usr/lib/llvm-14/bin/clang # finds wasm-ld beside it
# -mexec-model=reactor: a library with exports, no main. The stack is 1 MiB (wasm-ld's
# default is 64 KiB), still far below the host's 64 MiB memory limit.
flags=(--target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 -s
    -Wall -Wextra -Wno-missing-field-initializers -Wno-unused-parameter
    -Wl,-z,stack-size=1048576)
# shellcheck disable=SC2206 # user flags split as a shell would
extra=(${CFLAGS:-})

# Skip the build when nothing it reads changed.
stamp="$({
    printf '%s\n' "${flags[*]} ${extra[*]:-}" "${sources[@]}"
    cat "${sources[@]}" "${headers[@]}" "$sdk_dir/harmonia.h" "$sdk_dir"/src/* \
        "$repo_dir/wit/plugin.wit" "$target_dir/guest-tools/c/stamp"
} | sha256sum)"
stamp="${stamp%% *}"
mkdir -p "$work"
if [ -f "$work/component.wasm" ] && [ "$(cat "$work/stamp" 2>/dev/null)" = "$stamp" ]; then
    cmp -s "$work/component.wasm" "$out" || cp "$work/component.wasm" "$out"
    exit 0
fi
rm -f "$work/stamp"

# Bindings of the repository's WIT (only files whose content changed are rewritten).
"$tool" bindings "$repo_dir/wit" "$work/gen" --world adapter

"$cc" "${flags[@]}" "${extra[@]}" -I "$sdk_dir" -I "$sdk_dir/src" -I "$work/gen" \
    -o "$work/core.wasm" "${sources[@]}" \
    "$sdk_dir/src/json.c" "$sdk_dir/src/result.c" "$sdk_dir/src/component.c" "$sdk_dir/src/host_common.c" \
    "$work/gen/adapter.c" "$work/gen/adapter_component_type.o"
"$tool" component "$work/core.wasm" -o "$work/component.wasm"
echo "$stamp" >"$work/stamp"
mkdir -p "$(dirname "$out")"
cp "$work/component.wasm" "$out"

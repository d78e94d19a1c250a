#!/usr/bin/env bash
# Native unit tests of the C SDK and of C plugins, with the machine's C compiler.
#
#   bash sdk/c/test.sh                  # the SDK's tests (sdk/c/tests/test_*.c) and those of
#                                       # every C plugin with a tests/ folder in plugins/
#   bash sdk/c/test.sh plugins/digest   # the SDK's tests and that plugin's
#
# Each test file is its own program: an SDK test is built with src/json.c and src/result.c
# (and the in-memory host, src/native_host.c + src/host_common.c, when it defines a plugin
# with HM_PLUGIN); a plugin test with the plugin's *.c files, those two and the in-memory
# host, so it can call actions with hm_test_call. AddressSanitizer and
# UBSan (leaks included) are on when the compiler has them. Exits non-zero on any failure.
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo_dir/target}"
out="$target_dir/guest-tools/c/tests"
mkdir -p "$out"

cc="${CC:-}"
if [ -z "$cc" ]; then
    for candidate in cc gcc clang clang-14; do
        if command -v "$candidate" >/dev/null; then cc="$candidate"; break; fi
    done
fi
[ -n "$cc" ] || { echo "no C compiler found (set CC)" >&2; exit 1; }

flags=(-std=c11 -O1 -g -Wall -Wextra -Wno-missing-field-initializers -Wno-unused-parameter
    -I "$sdk_dir" -I "$sdk_dir/src" -I "$sdk_dir/tests")
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
printf 'int main(void) { return 0; }\n' >"$out/probe.c"
if "$cc" "${sanitize[@]}" -o "$out/probe" "$out/probe.c" 2>/dev/null && "$out/probe"; then
    flags+=("${sanitize[@]}")
fi

passed=0
failed=0
# run_test <name> <files...>: builds one test program and runs it.
run_test() {
    local name="$1"
    shift
    local exe="$out/$name" status=0 summary
    if ! "$cc" "${flags[@]}" -o "$exe" "$@" -lm; then
        echo "$name: does not compile" >&2
        failed=$((failed + 1))
        return
    fi
    summary="$("$exe")" || status=$?
    echo "$summary"
    # The program's last line is "<suite>: N passed, M failed".
    local failures=0
    if [[ "$summary" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failures=${BASH_REMATCH[2]}
    fi
    if [ "$status" -ne 0 ] && [ "$failures" -eq 0 ]; then
        # A crash, or a sanitizer report after the summary.
        echo "$name: exited with status $status" >&2
        failures=1
    fi
    failed=$((failed + failures))
}

for test in "$sdk_dir"/tests/test_*.c; do
    # A test that defines a plugin (HM_PLUGIN) calls the host interface: the in-memory one.
    host=()
    grep -q '^HM_PLUGIN(' "$test" && host=("$sdk_dir/src/native_host.c" "$sdk_dir/src/host_common.c")
    run_test "sdk-$(basename "$test" .c)" "$test" "$sdk_dir/src/json.c" "$sdk_dir/src/result.c" "${host[@]}"
done

plugin_dirs=()
if [ $# -gt 0 ]; then
    for dir in "$@"; do plugin_dirs+=("$(cd "$dir" && pwd)"); done
else
    for dir in "$repo_dir"/plugins/*/; do
        dir="${dir%/}"
        # A C plugin (*.c, not one of another language) with tests.
        [ -f "$dir/Cargo.toml" ] && continue
        compgen -G "$dir/*.c" >/dev/null && compgen -G "$dir/tests/*.c" >/dev/null || continue
        plugin_dirs+=("$dir")
    done
fi
for dir in "${plugin_dirs[@]}"; do
    for test in "$dir"/tests/*.c; do
        run_test "$(basename "$dir")-$(basename "$test" .c)" -I "$dir" "$test" "$dir"/*.c \
            "$sdk_dir/src/json.c" "$sdk_dir/src/result.c" "$sdk_dir/src/native_host.c" \
            "$sdk_dir/src/host_common.c"
    done
done

echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

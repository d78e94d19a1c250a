"""`python -m harmonia build DIR -o OUT.wasm`: see `harmonia.build`."""

import sys


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m harmonia build PLUGIN_DIR [-o OUT.wasm] [options]  (build --help for more)")
        return 0 if len(sys.argv) >= 2 else 2
    if sys.argv[1] != "build":
        print(f"unknown command {sys.argv[1]!r}; the only one is `build`", file=sys.stderr)
        return 2
    from .build import main as build_main

    return build_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

"""`python -m harmonia build`: a plugin directory into a WebAssembly component, with
componentize-py and the `adapter` world of Harmonia's `wit/plugin.wit`.

The plugin's sources (its top-level `*.py` files and packages, without tests) and this SDK
are copied to a staging directory with a small entry module, then componentize-py imports
that module once (a snapshot of the initialised interpreter goes into the component) and
writes the component.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, List, Optional

SDK_PACKAGE = Path(__file__).resolve().parent
WORLD = "adapter"
ENTRY = "harmonia_component_entry"
COMPONENTIZE_PY = "0.25.1"  # the version install.sh pins and this SDK is tested with


class BuildError(Exception):
    """A build that cannot go on; the message says why and what to do."""


def _is_test(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def _skipped_dir(path: Path) -> bool:
    # Only packages (with __init__.py) are sources; that leaves out virtualenvs and data.
    return path.name.startswith(".") or path.name in ("tests", "test") or not (path / "__init__.py").is_file()


def find_module(plugin_dir: Path) -> str:
    """The module that defines the plugin: `plugin.py`, else `<directory name>.py`, else
    the only top-level `*.py` file that is not a test."""
    sources = sorted(p.name for p in plugin_dir.glob("*.py") if not _is_test(p.name) and p.name != "setup.py")
    own = re.sub(r"[^0-9A-Za-z_]", "_", plugin_dir.name) + ".py"
    for name in ("plugin.py", own):
        if name in sources:
            return name[:-3]
    if len(sources) == 1:
        return sources[0][:-3]
    if not sources:
        raise BuildError(f"{plugin_dir} holds no Python source (*.py)")
    raise BuildError(
        f"{plugin_dir} holds several modules ({', '.join(sources)}): name the plugin's with --module, "
        f"or call it plugin.py"
    )


def find_wit(explicit: Optional[str]) -> Path:
    """The WIT directory: --wit, else $HARMONIA_WIT, else the one shipped with this SDK
    (a link to the repository's `wit/` in a checkout, a copy in an installed package)."""
    for candidate, origin in ((explicit, "--wit"), (os.environ.get("HARMONIA_WIT"), "HARMONIA_WIT")):
        if candidate:
            path = Path(candidate)
            if not any(path.glob("*.wit")):
                raise BuildError(f"{origin}={candidate}: no *.wit file there")
            return path.resolve()
    path = SDK_PACKAGE / "wit"
    if any(path.glob("*.wit")):
        return path.resolve()
    raise BuildError(
        f"no WIT found at {path}: pass --wit <harmonia checkout>/wit or set HARMONIA_WIT"
    )


def find_componentize_py(explicit: Optional[str]) -> str:
    """componentize-py: --componentize-py, else beside this Python, else on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.is_file():
        return str(beside)
    found = shutil.which("componentize-py")
    if found:
        return found
    raise BuildError(
        f"componentize-py not found: install it with `python -m pip install componentize-py=={COMPONENTIZE_PY}` "
        "(in the same virtualenv as this SDK)"
    )


def stage(plugin_dir: Path, module: str, into: Path) -> None:
    """Copies the plugin's sources, this SDK and the entry module into `into`."""
    if module == "harmonia" or (plugin_dir / "harmonia").exists():
        raise BuildError("a plugin module or package may not be called `harmonia` (the SDK's name)")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "test_*.py", "*_test.py", "tests", ".*")
    for path in sorted(plugin_dir.iterdir()):
        if path.is_file() and path.suffix == ".py" and not _is_test(path.name) and path.name != "setup.py":
            shutil.copy2(path, into / path.name)
        elif path.is_dir() and not _skipped_dir(path):
            shutil.copytree(path, into / path.name, ignore=ignore)
    sdk = into / "harmonia"
    sdk.mkdir()
    for path in sorted(SDK_PACKAGE.glob("*.py")):
        if path.name not in ("build.py", "__main__.py"):
            shutil.copy2(path, sdk / path.name)
    (into / f"{ENTRY}.py").write_text(
        "# Written by `python -m harmonia build`: componentize-py instantiates WitWorld.\n"
        f"import {module} as _plugin_module\n"
        "from harmonia._component import world_class\n\n"
        "WitWorld = world_class(_plugin_module)\n"
    )


def _tree_digest(h: "hashlib._Hash", root: Path, files: Iterable[Path]) -> None:
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")


def inputs_digest(staged: Path, wit: Path, tool: str, extra_paths: List[str]) -> str:
    """A digest of everything the component is built from. Extra paths (dependencies) count
    by file names, sizes and times, which is cheap for a large site-packages."""
    h = hashlib.sha256()
    h.update(f"{WORLD}\0{tool}\0{os.stat(tool).st_mtime_ns}\0".encode())
    _tree_digest(h, staged, (p for p in staged.rglob("*") if p.is_file()))
    _tree_digest(h, wit, (p for p in wit.rglob("*.wit") if p.is_file()))
    for extra in extra_paths:
        for p in sorted(Path(extra).rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def build(
    plugin_dir: str,
    output: str,
    *,
    module: Optional[str] = None,
    wit: Optional[str] = None,
    paths: Optional[List[str]] = None,
    componentize_py: Optional[str] = None,
    if_changed: bool = False,
    quiet: bool = False,
) -> bool:
    """Builds the plugin in `plugin_dir` into the component `output`. Returns False when
    `if_changed` found the inputs unchanged since the last build and did nothing (with
    `if_changed`, a digest of the inputs is kept in `<output>.inputs`)."""
    source = Path(plugin_dir).resolve()
    if not source.is_dir():
        raise BuildError(f"{plugin_dir}: not a directory")
    out = Path(output).resolve()
    module = module or find_module(source)
    if not (source / f"{module}.py").is_file() and not (source / module / "__init__.py").is_file():
        raise BuildError(f"{source} has no module `{module}` ({module}.py or {module}/__init__.py)")
    wit_dir = find_wit(wit)
    tool = find_componentize_py(componentize_py)
    extra = [str(Path(p).resolve()) for p in (paths or [])]
    say = (lambda _msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))

    with tempfile.TemporaryDirectory(prefix="harmonia-py-build-") as tmp:
        staged = Path(tmp) / "app"
        staged.mkdir()
        stage(source, module, staged)
        digest_file = out.with_name(out.name + ".inputs")
        digest = inputs_digest(staged, wit_dir, tool, extra)
        if if_changed and out.is_file() and digest_file.is_file() and digest_file.read_text().strip() == digest:
            return False

        started = time.monotonic()
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        command = [tool, "-q", "-d", str(wit_dir), "-w", WORLD, "componentize", "-p", str(staged)]
        for p in extra:
            command += ["-p", p]
        command += [ENTRY, "-o", str(partial)]
        # No VIRTUAL_ENV: componentize-py would add that venv's site-packages to the path.
        # No Rust backtraces: they would bury the plugin's Python traceback.
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env.update(RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
        result = subprocess.run(command, cwd=tmp, env=env)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BuildError(
                f"componentize-py failed (exit {result.returncode}) building {source}; "
                "a Python traceback above comes from importing the plugin module"
            )
        os.replace(partial, out)
        if if_changed:
            digest_file.write_text(digest + "\n")
        size = out.stat().st_size
        say(f"built {out} ({size / 1e6:.1f} MB) from {source} in {time.monotonic() - started:.1f} s")
    return True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harmonia build",
        description="Build a Python plugin directory into a Harmonia component (.wasm).",
    )
    parser.add_argument("plugin_dir", help="the directory holding the plugin's module (plugin.py by default)")
    parser.add_argument("-o", "--output", help="the component to write (default: <directory name>.wasm)")
    parser.add_argument("-m", "--module", help="the module that defines the Plugin class")
    parser.add_argument("-p", "--path", action="append", default=[],
                        help="an extra directory of pure-Python dependencies (repeatable)")
    parser.add_argument("--wit", help="Harmonia's wit/ directory (default: the one shipped with the SDK)")
    parser.add_argument("--componentize-py", help="the componentize-py executable")
    parser.add_argument("--if-changed", action="store_true",
                        help="do nothing when the inputs are those of the last build")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    output = args.output or f"{Path(args.plugin_dir).resolve().name}.wasm"
    try:
        build(args.plugin_dir, output, module=args.module, wit=args.wit, paths=args.path,
              componentize_py=args.componentize_py, if_changed=args.if_changed, quiet=args.quiet)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0

"""The build command's pure parts: which module is the plugin, what is staged, which WIT."""

import os
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from harmonia import build


def make(root: Path, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class BuildTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name) / "my-plugin"
        self.root.mkdir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_finds_the_plugin_module(self):
        make(self.root, {"helpers.py": "", "test_x.py": ""})
        self.assertEqual(build.find_module(self.root), "helpers")
        make(self.root, {"my_plugin.py": ""})
        self.assertEqual(build.find_module(self.root), "my_plugin")
        make(self.root, {"plugin.py": ""})
        self.assertEqual(build.find_module(self.root), "plugin")
        (self.root / "plugin.py").unlink()
        (self.root / "my_plugin.py").unlink()
        make(self.root, {"other.py": ""})
        with self.assertRaisesRegex(build.BuildError, "several modules"):
            build.find_module(self.root)

    def test_stages_sources_sdk_and_entry_without_tests(self):
        make(self.root, {
            "plugin.py": "x = 1", "util.py": "", "test_plugin.py": "", "setup.py": "",
            "pkg/__init__.py": "", "pkg/core.py": "", "pkg/tests/test_core.py": "", "pkg/test_a.py": "",
            "data/words.txt": "", ".venv/lib/site.py": "", "tests/__init__.py": "",
        })
        out = Path(self.tmp.name) / "stage"
        out.mkdir()
        build.stage(self.root, "plugin", out)
        staged = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        self.assertIn("plugin.py", staged)
        self.assertIn("util.py", staged)
        self.assertIn("pkg/core.py", staged)
        self.assertIn("harmonia/_component.py", staged)
        self.assertIn("harmonia/__init__.py", staged)
        for left_out in ["test_plugin.py", "setup.py", "pkg/tests/test_core.py", "pkg/test_a.py", "data/words.txt",
                         ".venv/lib/site.py", "tests/__init__.py", "harmonia/build.py"]:
            self.assertNotIn(left_out, staged)
        entry = (out / f"{build.ENTRY}.py").read_text()
        self.assertIn("import plugin as _plugin_module", entry)
        self.assertIn("WitWorld = world_class(_plugin_module)", entry)

    def test_refuses_a_module_named_like_the_sdk(self):
        with self.assertRaisesRegex(build.BuildError, "may not be called `harmonia`"):
            build.stage(self.root, "harmonia", Path(self.tmp.name))

    def test_finds_the_wit(self):
        # In a checkout the SDK's wit/ is a link to the repository's.
        self.assertTrue((build.find_wit(None) / "plugin.wit").is_file())
        with mock.patch.dict(os.environ, {"HARMONIA_WIT": str(self.root)}):
            with self.assertRaisesRegex(build.BuildError, "no \\*.wit file"):
                build.find_wit(None)
        make(self.root, {"plugin.wit": "package a:b;"})
        self.assertEqual(build.find_wit(str(self.root)), self.root.resolve())

    def test_digest_follows_the_sources(self):
        make(self.root, {"plugin.py": "x = 1"})
        tool = str(self.root / "plugin.py")  # any existing file stands in for the tool
        wit = build.find_wit(None)
        first = build.inputs_digest(self.root, wit, tool, [])
        self.assertEqual(first, build.inputs_digest(self.root, wit, tool, []))
        make(self.root, {"plugin.py": "x = 2"})
        self.assertNotEqual(first, build.inputs_digest(self.root, wit, tool, []))


if __name__ == "__main__":
    unittest.main()

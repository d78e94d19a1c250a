"""`harmonia._component` against stand-in bindings (tests/stubs): describe, invoke, errors as
WIT records wrapped in `Err`, and the host calls the context makes."""

import json
import sys
import types
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "stubs"))

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import host as wit_host  # noqa: E402
from wit_world.imports import types as wit_types  # noqa: E402

from harmonia import Plugin, TaskError, action, field  # noqa: E402
from harmonia import _component  # noqa: E402


def plugin_module(*classes, name="fake_plugin"):
    module = types.ModuleType(name)
    for cls in classes:
        cls.__module__ = name
        setattr(module, cls.__name__, cls)
    return module


class Notes(Plugin):
    name = "notes"
    version = "2.0.0"
    description = "Keeps notes"

    @action("Stores a note", input_schema={"type": "object"})
    def add(self, input, ctx):
        text = field(input, "text", str)
        notes = ctx.kv_get_json("notes", [])
        notes.append(text)
        ctx.kv_set_json("notes", notes)
        ctx.warn(f"{len(notes)} notes")
        ctx.progress(100, "stored")
        ctx.emit_event("note.added", {"count": len(notes)})
        return {"count": len(notes), "token": ctx.secret("token")}

    @action("Fails as asked")
    def fail(self, input, ctx):
        if input.get("forever"):
            raise TaskError.retryable("later", retry_after_ms=float("inf"))
        if input.get("path"):
            path = b"/data/caf\xe9".decode("utf-8", "surrogateescape")
            raise TaskError.fatal(f"cannot read {path}", code=f"io-{path}", details={"path": path})
        if input.get("retry"):
            raise TaskError.retryable("busy", code="http-503", details={"body": "later"}, retry_after_ms=250)
        return 1 / 0


def invocation(action_name, input="{}", **kw):
    fields = dict(action=action_name, input=input, execution_id="e", task_id="t", attempt=1,
                  idempotency_key="e/t", deadline_ms=None)
    fields.update(kw)
    return wit_types.Invocation(**fields)


class ComponentTest(unittest.TestCase):
    def setUp(self):
        wit_host.CALLS.clear()
        wit_host.KV.clear()
        wit_host.SECRETS.clear()
        self.world = _component.world_class(plugin_module(Notes))()

    def test_describe_returns_the_wit_record(self):
        info = self.world.describe()
        self.assertIsInstance(info, wit_types.PluginInfo)
        self.assertEqual((info.name, info.version, info.description), ("notes", "2.0.0", "Keeps notes"))
        self.assertEqual(
            info.actions,
            [wit_types.ActionInfo("add", "Stores a note", '{"type":"object"}', None),
             wit_types.ActionInfo("fail", "Fails as asked", None, None)],
        )
        self.assertEqual(info.capabilities, [])

    def test_invoke_returns_json_and_uses_the_host_import(self):
        wit_host.SECRETS["token"] = "t0k"
        self.assertEqual(json.loads(self.world.invoke(invocation("add", '{"text": "a"}'))), {"count": 1, "token": "t0k"})
        self.assertEqual(json.loads(self.world.invoke(invocation("add", '{"text": "b"}'))), {"count": 2, "token": "t0k"})
        self.assertEqual(wit_host.KV["notes"], b'["a","b"]')
        calls = [c for c in wit_host.CALLS if c[0] != "kv_get"]
        self.assertIn(("log", wit_host.Level.WARN, "2 notes"), calls)
        self.assertIn(("progress", 100, "stored"), calls)
        self.assertIn(("emit_event", "note.added", '{"count":2}'), calls)

    def assert_err(self, call, kind, message, code=None, details=None, retry_after_ms=None):
        with self.assertRaises(Err) as cm:
            self.world.invoke(call)
        err = cm.exception.value
        self.assertIsInstance(err, wit_types.TaskError)
        self.assertEqual(err.kind, kind)
        self.assertIn(message, err.message)
        self.assertEqual(err.code, code)
        if details is not None:
            self.assertEqual(json.loads(err.details), details)
        self.assertEqual(err.retry_after_ms, retry_after_ms)
        return err

    def test_errors_become_wit_task_errors(self):
        E = wit_types.ErrorKind
        self.assert_err(invocation("add", "{}"), E.INVALID_INPUT, "missing field `text`", "missing-field",
                        {"field": "text", "expected": "a string"})
        self.assert_err(invocation("add", "[1"), E.INVALID_INPUT, "not JSON", "not-json")
        self.assert_err(invocation("fail", '{"retry": true}'), E.RETRYABLE, "busy", "http-503", {"body": "later"}, 250)
        err = self.assert_err(invocation("fail"), E.FATAL, "action `fail` raised ZeroDivisionError: division by zero",
                              "exception")
        self.assertIn("ZeroDivisionError", json.loads(err.details)["traceback"])
        self.assert_err(invocation("nope"), E.UNKNOWN_ACTION, "unknown action `nope`; known actions: add, fail")
        self.assertIn(wit_host.Level.ERROR, [c[1] for c in wit_host.CALLS if c[0] == "log"])

    def test_error_strings_are_well_formed_and_retry_after_fits_a_u64(self):
        E = wit_types.ErrorKind
        self.assert_err(invocation("fail", '{"forever": true}'), E.RETRYABLE, "later", retry_after_ms=2**64 - 1)
        err = self.assert_err(invocation("fail", '{"path": true}'), E.FATAL, "cannot read /data/caf\ufffd",
                              "io-/data/caf\ufffd", {"path": "/data/caf\ufffd"})
        for text in (err.message, err.code, err.details):
            text.encode("utf-8")

    def test_plugin_lookup(self):
        class Helper:
            pass

        self.assertIs(_component.find_plugin(plugin_module(Notes, Helper)), Notes)
        # A plugin class imported from elsewhere counts when the module defines none.
        module = types.ModuleType("reexport")
        module.Notes = Notes
        self.assertIs(_component.find_plugin(module), Notes)

        class Other(Notes):
            name = "other"

        with self.assertRaisesRegex(LookupError, "several plugins"):
            _component.find_plugin(plugin_module(Notes, Other))
        with self.assertRaisesRegex(LookupError, "no harmonia.Plugin subclass"):
            _component.find_plugin(plugin_module(Helper, name="empty"))


if __name__ == "__main__":
    unittest.main()

"""Dispatch, error mapping and JSON handling of `PluginSpec.invoke`, through FakeHost."""

import dataclasses
import json
import unittest

from harmonia import Plugin, TaskError, action, field
from harmonia.plugin import PluginSpec
from harmonia.testing import FakeHost


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Sample(Plugin):
    name = "sample"
    version = "1.2.3"
    description = "A plugin for tests"
    capabilities = ["http"]

    @action("Adds a and b", input_schema={"type": "object", "required": ["a", "b"]})
    def add(self, input, ctx):
        ctx.info(f"adding {input['a']} and {input['b']}")
        return {"sum": field(input, "a", int) + field(input, "b", int)}

    @action(name="echo-input")
    def echo(self, input):
        """Returns its input as it is.

        More text that is not part of the description."""
        return input

    @action("No input at all")
    def ping(self):
        return "pong"

    @action("Uses self.ctx")
    def whoami(self, input):
        c = self.ctx
        return {"action": c.action, "execution": c.execution_id, "task": c.task_id, "attempt": c.attempt,
                "key": c.idempotency_key, "deadline": c.deadline_ms}

    @action("Raises what it is told to")
    def fail(self, input, ctx):
        how = input.get("how")
        if how == "retryable":
            raise TaskError.retryable("down", code="http-503", details={"body": "later"}, retry_after_ms=1500)
        if how == "key":
            return {}["missing"]
        if how == "exit":
            raise SystemExit(3)
        if how == "silent":
            raise RuntimeError()
        if how == "memory":
            raise MemoryError()
        if how == "import":
            import harmonia_no_such_module  # noqa: F401
        raise ValueError("bad value 42")

    @action("Returns something that is not JSON")
    def not_json(self, input, ctx):
        return {"tags": {"a", "b"}} if input.get("what") == "set" else {"x": float("nan")}

    @action("Returns text with surrogates, as bytes decoded with surrogateescape give")
    def surrogates(self, input, ctx):
        name = b"caf\xe9".decode("utf-8", "surrogateescape")
        return {name: name, "cut": "😀abc".encode("utf-16-le", "surrogatepass")[:2].decode("utf-16-le", "surrogatepass")}

    @action("Returns a dataclass and unicode")
    def point(self, input, ctx):
        return {"p": Point(1, 2), "text": "héllo ✓"}

    def helper(self):  # not an action
        return 1


def call(action_name, input="{}", host=None, **invocation):
    return (host or FakeHost()).call_json(Sample, action_name, input, **invocation)


class DescribeTest(unittest.TestCase):
    def test_info_lists_actions_in_definition_order(self):
        info = FakeHost().describe(Sample)
        self.assertEqual((info["name"], info["version"], info["description"]), ("sample", "1.2.3", "A plugin for tests"))
        self.assertEqual(info["capabilities"], ["http"])
        names = [a["name"] for a in info["actions"]]
        self.assertEqual(names, ["add", "echo-input", "ping", "whoami", "fail", "not_json", "surrogates", "point"])
        add = info["actions"][0]
        self.assertEqual(add["description"], "Adds a and b")
        self.assertEqual(json.loads(add["input_schema"]), {"type": "object", "required": ["a", "b"]})
        self.assertIsNone(add["output_schema"])
        self.assertEqual(info["actions"][1]["description"], "Returns its input as it is.")

    def test_bad_plugin_classes_are_refused_when_read(self):
        class NoName(Plugin):
            @action("x")
            def a(self, input):
                return 1

        class NoActions(Plugin):
            name = "empty"

        class Twice(Plugin):
            name = "twice"

            @action("x", name="same")
            def a(self, input):
                return 1

            @action("y", name="same")
            def b(self, input):
                return 2

        class TooMany(Plugin):
            name = "many"

            @action("x")
            def a(self, input, ctx, extra):
                return 1

        class BadSchema(Plugin):
            name = "schema"

            @action("x", input_schema="{not json")
            def a(self, input):
                return 1

        for cls, text in [(NoName, "set `name"), (NoActions, "no actions"), (Twice, "`same` is defined twice"),
                          (TooMany, "must take"), (BadSchema, "not JSON")]:
            with self.assertRaises((TypeError, ValueError), msg=cls.__name__) as cm:
                PluginSpec(cls)
            self.assertIn(text, str(cm.exception))

    def test_subclass_inherits_and_overrides_actions(self):
        class Louder(Sample):
            name = "louder"

            @action("Shouts pong")
            def ping(self):
                return "PONG"

        spec = PluginSpec(Louder)
        self.assertEqual(list(spec.actions)[:3], ["add", "echo-input", "ping"])
        self.assertEqual(FakeHost().call(Louder, "ping"), "PONG")


class DispatchTest(unittest.TestCase):
    def test_calls_the_named_action_with_parsed_input(self):
        host = FakeHost()
        self.assertEqual(host.call(Sample, "add", {"a": 2, "b": 3}), {"sum": 5})
        self.assertEqual(host.logs, [("info", "adding 2 and 3")])
        self.assertEqual(host.call(Sample, "echo-input", [1, "two", None]), [1, "two", None])
        self.assertEqual(host.call(Sample, "ping"), "pong")

    def test_missing_input_is_an_empty_object(self):
        for text in ["", "  ", "null"]:
            self.assertEqual(call("echo-input", text), "{}")

    def test_output_is_compact_json_keeping_unicode(self):
        self.assertEqual(call("echo-input", '{"a": [1, 2.5]}'), '{"a":[1,2.5]}')
        self.assertEqual(call("point"), '{"p":{"x":1,"y":2},"text":"héllo ✓"}')

    def test_output_with_surrogates_is_valid_utf8_json_with_u_fffd(self):
        text = call("surrogates")
        text.encode("utf-8")  # does not raise (FakeHost also checks it)
        self.assertEqual(json.loads(text), {"caf\ufffd": "caf\ufffd", "cut": "\ufffd"})

    def test_invocation_fields_reach_the_context(self):
        out = FakeHost().call(Sample, "whoami", {}, execution_id="e1", task_id="t1", attempt=3,
                              idempotency_key="e1/t1", deadline_ms=99)
        self.assertEqual(out, {"action": "whoami", "execution": "e1", "task": "t1", "attempt": 3,
                               "key": "e1/t1", "deadline": 99})

    def test_unknown_action_lists_the_known_ones(self):
        with self.assertRaises(TaskError) as cm:
            call("nope")
        self.assertEqual(cm.exception.kind, "unknown-action")
        self.assertIn("`nope`", cm.exception.message)
        self.assertIn("add, echo-input, ping", cm.exception.message)

    def test_helper_methods_are_not_actions(self):
        with self.assertRaises(TaskError) as cm:
            call("helper")
        self.assertEqual(cm.exception.kind, "unknown-action")


class ErrorTest(unittest.TestCase):
    def test_task_errors_pass_through_with_every_field(self):
        with self.assertRaises(TaskError) as cm:
            call("fail", '{"how": "retryable"}')
        self.assertEqual(
            cm.exception.to_dict(),
            {"kind": "retryable", "message": "down", "code": "http-503", "details": {"body": "later"},
             "retry_after_ms": 1500},
        )

    def test_other_exceptions_become_fatal_errors_naming_type_and_text(self):
        host = FakeHost()
        for how, text in [("value", "action `fail` raised ValueError: bad value 42"),
                          ("key", "action `fail` raised KeyError: 'missing'"),
                          ("exit", "action `fail` raised SystemExit: 3"),
                          ("silent", "action `fail` raised RuntimeError")]:
            with self.assertRaises(TaskError) as cm:
                call("fail", json.dumps({"how": how}), host)
            err = cm.exception
            self.assertEqual((err.kind, err.message, err.code), ("fatal", text, "exception"))
            self.assertIn("Traceback", err.details["traceback"])
            self.assertIn("in fail", err.details["traceback"])
        self.assertEqual([level for level, _ in host.logs], ["error"] * 4)
        self.assertIn("ValueError: bad value 42", host.logs[0][1])

    def test_memory_errors_point_to_the_manifest(self):
        with self.assertRaises(TaskError) as cm:
            call("fail", '{"how": "memory"}')
        err = cm.exception
        self.assertEqual((err.kind, err.code), ("fatal", "out-of-memory"))
        self.assertIn("`memory_mb` in plugins/sample.toml", err.message)

    def test_import_errors_say_to_import_at_the_top(self):
        with self.assertRaises(TaskError) as cm:
            call("fail", '{"how": "import"}')
        self.assertIn("raised ModuleNotFoundError: No module named 'harmonia_no_such_module' (import modules at the top",
                      cm.exception.message)

    def test_input_that_is_not_json_is_invalid_input(self):
        with self.assertRaises(TaskError) as cm:
            call("echo-input", "{oops")
        self.assertEqual((cm.exception.kind, cm.exception.code), ("invalid-input", "not-json"))
        self.assertIn("invalid input for action `echo-input`: not JSON", cm.exception.message)

    def test_output_that_is_not_json_is_a_clear_fatal_error(self):
        for what, reason in [("set", "Object of type set is not JSON serializable"), ("nan", "Out of range float")]:
            with self.assertRaises(TaskError) as cm:
                call("not_json", json.dumps({"what": what}))
            err = cm.exception
            self.assertEqual((err.kind, err.code), ("fatal", "not-json"))
            self.assertIn("the output of action `not_json` is not JSON-serialisable", err.message)
            self.assertIn(reason, err.message)

    def test_error_details_that_are_not_json_become_text(self):
        err = TaskError.fatal("x", details={"when": {1, 2}})
        self.assertIsInstance(json.loads(err.details_json), str)
        self.assertIsNone(TaskError.fatal("x").details_json)

    def test_builders_and_str(self):
        err = TaskError.invalid_input("no text", code="missing-field")
        self.assertEqual(str(err), "invalid-input [missing-field]: no text")
        self.assertEqual(TaskError.retryable("x", retry_after_ms=-5).retry_after_ms, 0)

    def test_retry_after_is_clamped_to_what_a_u64_holds(self):
        u64_max = 2**64 - 1
        for given, kept in [(2**64, u64_max), (10**30, u64_max), (float("inf"), u64_max), (1e300, u64_max),
                            (u64_max, u64_max), (float("-inf"), 0), (-1, 0), (1500.9, 1500), (0, 0)]:
            self.assertEqual(TaskError.retryable("x", retry_after_ms=given).retry_after_ms, kept, given)
        self.assertIsNone(TaskError.retryable("x", retry_after_ms=float("nan")).retry_after_ms)
        self.assertEqual(TaskError.fatal("boom").to_dict(), {"kind": "fatal", "message": "boom"})
        with self.assertRaises(ValueError):
            TaskError("oops", "bad kind")

    def test_failing_constructor_is_a_fatal_error(self):
        class Broken(Sample):
            name = "broken"

            def __init__(self):
                raise OSError("no config")

        with self.assertRaises(TaskError) as cm:
            FakeHost().call(Broken, "ping")
        self.assertEqual(cm.exception.message, "action `ping` raised OSError: no config")


class FieldTest(unittest.TestCase):
    def check_error(self, input, name, kind, code, message, **kw):
        with self.assertRaises(TaskError) as cm:
            field(input, name, kind, **kw)
        self.assertEqual((cm.exception.kind, cm.exception.code, cm.exception.message),
                         ("invalid-input", code, message))
        return cm.exception

    def test_reads_checked_values(self):
        self.assertEqual(field({"t": "x"}, "t", str), "x")
        self.assertEqual(field({"n": 3.0}, "n", int), 3)
        self.assertIsInstance(field({"n": 3.0}, "n", int), int)
        self.assertEqual(field({"n": 3}, "n", float), 3.0)
        self.assertEqual(field({}, "n", int, default=5), 5)
        self.assertEqual(field({"n": None}, "n", int, default=5), 5)
        self.assertEqual(field({"v": [1]}, "v"), [1])

    def test_missing_and_mistyped_fields_are_named(self):
        err = self.check_error({}, "text", str, "missing-field", "missing field `text` (a string)")
        self.assertEqual(err.details, {"field": "text", "expected": "a string"})
        err = self.check_error({"text": 5}, "text", str, "wrong-type", "field `text` must be a string, not an integer (5)")
        self.assertEqual(err.details["got"], "an integer")
        self.check_error({"n": True}, "n", int, "wrong-type", "field `n` must be an integer, not a boolean (true)")
        self.check_error({"n": 2.5}, "n", int, "wrong-type", "field `n` must be an integer, not a number (2.5)")
        self.check_error({"l": "x" * 100}, "l", list, "wrong-type",
                         'field `l` must be an array, not a string ("' + "x" * 36 + '...)')
        self.check_error([1], "text", str, "wrong-type",
                         "the input must be a JSON object with field `text`, not an array")


if __name__ == "__main__":
    unittest.main()

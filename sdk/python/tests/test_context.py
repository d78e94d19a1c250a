"""`Context`: logging, progress, events, key-value (raw and JSON), secrets and the deadline."""

import time
import unittest

from harmonia import Context, TaskError
from harmonia.testing import FakeHost


def ctx(host, **kw):
    return Context(host, "act", **kw)


class ContextTest(unittest.TestCase):
    def test_log_levels(self):
        host = FakeHost()
        c = ctx(host)
        c.trace("t")
        c.debug("d")
        c.info("i")
        c.warn("w")
        c.error("e")
        c.log("WARNING", 42)
        self.assertEqual(host.logs, [("trace", "t"), ("debug", "d"), ("info", "i"), ("warn", "w"), ("error", "e"),
                                     ("warn", "42")])
        with self.assertRaises(ValueError):
            c.log("loud", "x")

    def test_progress_is_clamped(self):
        host = FakeHost()
        c = ctx(host)
        c.progress(40, "halfway")
        c.progress(150.7)
        c.progress(-3, "back")
        self.assertEqual(host.progress_reports, [(40, "halfway"), (100, ""), (0, "back")])

    def test_events_carry_json(self):
        host = FakeHost()
        ctx(host).emit_event("doc.ready", {"id": 7, "tags": ["a"]})
        self.assertEqual(host.events, [("doc.ready", {"id": 7, "tags": ["a"]})])
        with self.assertRaises(TaskError) as cm:
            ctx(host).emit_event("bad", {"x": object()})
        self.assertIn("the data of event `bad` is not JSON-serialisable", cm.exception.message)

    def test_kv_round_trips(self):
        host = FakeHost()
        c = ctx(host)
        self.assertIsNone(c.kv_get("k"))
        c.kv_set("k", b"\x00\x01")
        self.assertEqual(c.kv_get("k"), b"\x00\x01")
        c.kv_set("s", "é")
        self.assertEqual(host.kv["s"], "é".encode())
        c.kv_set_json("j", {"n": [1, 2]})
        self.assertEqual(c.kv_get_json("j"), {"n": [1, 2]})
        self.assertEqual(c.kv_get_json("none", default=0), 0)
        c.kv_delete("j")
        c.kv_delete("never-set")
        self.assertIsNone(c.kv_get_json("j"))
        with self.assertRaises(TypeError):
            c.kv_set("k", 5)
        c.kv_set("broken", b"{not json")
        with self.assertRaises(TaskError) as cm:
            c.kv_get_json("broken")
        self.assertEqual((cm.exception.kind, cm.exception.code), ("fatal", "kv-not-json"))
        self.assertIn("`broken`", cm.exception.message)

    def test_secrets(self):
        c = ctx(FakeHost(secrets={"token": "s3cret"}))
        self.assertEqual(c.secret("token"), "s3cret")
        self.assertIsNone(c.secret("other"))
        self.assertEqual(c.require_secret("token"), "s3cret")
        with self.assertRaises(TaskError) as cm:
            c.require_secret("other")
        self.assertEqual((cm.exception.kind, cm.exception.code), ("fatal", "missing-secret"))
        self.assertIn("`other`", cm.exception.message)

    def test_remaining_time(self):
        self.assertIsNone(ctx(FakeHost()).remaining_ms())
        soon = int(time.time() * 1000) + 60_000
        left = ctx(FakeHost(), deadline_ms=soon).remaining_ms()
        self.assertTrue(50_000 < left <= 60_000, left)
        self.assertEqual(ctx(FakeHost(), deadline_ms=1).remaining_ms(), 0)


if __name__ == "__main__":
    unittest.main()

"""`Context`: logging, progress, events, key-value (raw and JSON), secrets and the deadline."""

import json
import time
import unittest

from harmonia import Context, TaskError
from harmonia.context import MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES, to_json
from harmonia.testing import FakeHost

# A str as bytes that are not UTF-8 come out of os.fsdecode: "café" in Latin-1.
SURROGATES = b"caf\xe9".decode("utf-8", "surrogateescape")


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

    def test_kv_keys_over_the_host_limit_are_fatal_errors_before_the_host_is_called(self):
        host = FakeHost()  # raises HostTrap where the real host would abort the call
        c = ctx(host)
        ok = "k" * MAX_KV_KEY_BYTES
        c.kv_set(ok, b"v")
        self.assertEqual(c.kv_get(ok), b"v")
        c.kv_delete(ok)
        # 342 characters, but 1026 bytes of UTF-8: the limit counts bytes.
        for key in ["k" * (MAX_KV_KEY_BYTES + 1), "€" * 342]:
            calls = [
                lambda: c.kv_get(key),
                lambda: c.kv_set(key, b"v"),
                lambda: c.kv_set(key, "v"),
                lambda: c.kv_delete(key),
                lambda: c.kv_get_json(key),
                lambda: c.kv_set_json(key, {"a": 1}),
            ]
            for call in calls:
                with self.assertRaises(TaskError) as cm:
                    call()
                err = cm.exception
                self.assertEqual((err.kind, err.code), ("fatal", "kv-key-too-long"))
                size = len(key.encode())
                self.assertEqual(
                    err.message, f"kv key `{key[:60]}...` is {size} bytes, over the host's limit of 1024 bytes"
                )
        self.assertEqual(host.kv, {})
        with self.assertRaises(TaskError) as cm:
            c.kv_set(SURROGATES, b"v")
        self.assertEqual(cm.exception.code, "kv-key-invalid")
        self.assertIn("kv key `caf\ufffd` is not valid Unicode", cm.exception.message)
        with self.assertRaises(TypeError):
            c.kv_get(b"bytes")

    def test_kv_values_over_4_mib_are_fatal_errors(self):
        host = FakeHost()
        c = ctx(host)
        c.kv_set("big", bytes(MAX_KV_VALUE_BYTES))
        self.assertEqual(len(host.kv["big"]), MAX_KV_VALUE_BYTES)
        for value in [bytes(MAX_KV_VALUE_BYTES + 1), bytearray(MAX_KV_VALUE_BYTES + 1),
                      memoryview(bytes(MAX_KV_VALUE_BYTES + 1)), "é" * (MAX_KV_VALUE_BYTES // 2 + 1)]:
            with self.assertRaises(TaskError) as cm:
                c.kv_set("big", value)
            err = cm.exception
            self.assertEqual((err.kind, err.code), ("fatal", "kv-value-too-large"))
            self.assertIn("the value for kv key `big` is ", err.message)
            self.assertIn(" bytes, over the host's limit of 4194304 bytes (4 MiB)", err.message)
        with self.assertRaises(TaskError) as cm:
            c.kv_set_json("big", "x" * MAX_KV_VALUE_BYTES)  # plus two quotes
        self.assertEqual(cm.exception.code, "kv-value-too-large")
        self.assertIn("4194306 bytes", cm.exception.message)
        self.assertEqual(len(host.kv["big"]), MAX_KV_VALUE_BYTES)  # the earlier value stays

    def test_surrogates_become_u_fffd_in_json_and_host_strings(self):
        # Lone surrogates in strings and keys: UTF-8 cannot hold them, so they would make
        # the text fail to reach the host (or reach it as invalid JSON).
        value = {SURROGATES: [SURROGATES, "ok \ud83d", "\udc00 x"], "pair": "\ud83d\ude00"}
        text = to_json(value, "the value")
        text.encode("utf-8")  # does not raise
        self.assertEqual(json.loads(text), {"caf\ufffd": ["caf\ufffd", "ok \ufffd", "\ufffd x"], "pair": "😀"})
        host = FakeHost()
        c = ctx(host)
        c.emit_event(f"ev-{SURROGATES}", value)
        self.assertEqual(host.events[0][0], "ev-caf\ufffd")
        self.assertEqual(host.events[0][1]["pair"], "😀")
        c.kv_set_json("j", value)
        c.kv_set("s", SURROGATES)
        self.assertEqual(host.kv["s"], "caf\ufffd".encode())
        self.assertEqual(c.kv_get_json("j")[SURROGATES.replace("\udce9", "\ufffd")][0], "caf\ufffd")
        c.info(SURROGATES)
        c.progress(5, SURROGATES)
        self.assertEqual(host.logs, [("info", "caf\ufffd")])
        self.assertEqual(host.progress_reports, [(5, "caf\ufffd")])
        err = TaskError.fatal("x", details={"path": SURROGATES})
        self.assertEqual(json.loads(err.details_json), {"path": "caf\ufffd"})

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

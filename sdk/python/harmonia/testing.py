"""An in-memory host for testing plugins with plain CPython, without building a component.

    from harmonia.testing import FakeHost
    host = FakeHost(secrets={"api_token": "t0k3n"})
    out = host.call(TextStats, "analyze", {"text": "Hello there."})
    assert host.logs == [("info", "analyze: 2 words, 1 sentences")]

`call` runs the action exactly as the component does (the input and output go through
JSON text, errors come out as `TaskError`), so what passes here behaves the same in Harmonia.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from .errors import MAX_RETRY_AFTER_MS, TaskError
from .plugin import Invocation, PluginSpec

# The real host's limits (runtime/host/src/bindings.rs).
_MAX_KV_KEY = 1024
_MAX_KV_VALUE = 4 * 1024 * 1024


class HostTrap(Exception):
    """What the real host would do with a call that breaks its rules (a string that is not
    UTF-8, a kv key or value over the limit, a retry delay beyond u64): abort the call. The
    SDK prevents all of these; FakeHost raises this when one slips through."""


def _utf8(what: str, text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise HostTrap(f"{what} is not valid UTF-8: {e}") from None
    return text


def _kv_key(key: str) -> str:
    if len(_utf8("kv key", key).encode("utf-8")) > _MAX_KV_KEY:
        raise HostTrap(f"kv key of {len(key.encode())} bytes is over the limit of {_MAX_KV_KEY}")
    return key


class FakeHost:
    """Records what actions report and keeps a key-value space and secrets in memory. It
    checks what the real host checks (UTF-8 strings, kv limits) and raises HostTrap where
    the real host would abort the call."""

    def __init__(self, *, secrets: Optional[Dict[str, str]] = None, kv: Optional[Dict[str, bytes]] = None) -> None:
        self.logs: List[Tuple[str, str]] = []
        self.progress_reports: List[Tuple[int, str]] = []
        self.events: List[Tuple[str, Any]] = []
        self.kv: Dict[str, bytes] = dict(kv or {})
        self.secrets: Dict[str, str] = dict(secrets or {})

    # The HostBackend interface.

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, _utf8("a log message", message)))

    def progress(self, percent: int, message: str) -> None:
        self.progress_reports.append((percent, _utf8("a progress message", message)))

    def emit_event(self, event_type: str, data: str) -> None:
        self.events.append((_utf8("an event type", event_type), json.loads(_utf8("event data", data))))

    def kv_get(self, key: str) -> Optional[bytes]:
        return self.kv.get(_kv_key(key))

    def kv_set(self, key: str, value: bytes) -> None:
        if len(value) > _MAX_KV_VALUE:
            raise HostTrap(f"kv value of {len(value)} bytes is over the limit of {_MAX_KV_VALUE}")
        self.kv[_kv_key(key)] = bytes(value)

    def kv_delete(self, key: str) -> None:
        self.kv.pop(_kv_key(key), None)

    def secret(self, name: str) -> Optional[str]:
        return self.secrets.get(_utf8("a secret name", name))

    # Calling plugins.

    def describe(self, plugin: type) -> dict:
        """What the component's `describe` returns, as a dict (schemas as JSON text)."""
        return PluginSpec(plugin).info()

    def call_json(self, plugin: type, action: str, input: str = "{}", **invocation: Any) -> str:
        """Calls `action` with JSON text and returns the output JSON text, or raises
        TaskError. `invocation` sets execution_id, task_id, attempt, idempotency_key or
        deadline_ms."""
        try:
            output = PluginSpec(plugin).invoke(Invocation(action=action, input=input, **invocation), self)
        except TaskError as e:
            if e.retry_after_ms is not None and not 0 <= e.retry_after_ms <= MAX_RETRY_AFTER_MS:
                raise HostTrap(f"retry_after_ms {e.retry_after_ms} does not fit a u64") from None
            raise
        return _utf8("the output", output)

    def call(self, plugin: type, action: str, input: Any = None, **invocation: Any) -> Any:
        """Calls `action` with a Python value (sent as JSON) and returns the output as a
        Python value, or raises TaskError."""
        return json.loads(self.call_json(plugin, action, json.dumps(input), **invocation))

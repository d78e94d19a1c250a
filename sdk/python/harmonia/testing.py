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

from .plugin import Invocation, PluginSpec


class FakeHost:
    """Records what actions report and keeps a key-value space and secrets in memory."""

    def __init__(self, *, secrets: Optional[Dict[str, str]] = None, kv: Optional[Dict[str, bytes]] = None) -> None:
        self.logs: List[Tuple[str, str]] = []
        self.progress_reports: List[Tuple[int, str]] = []
        self.events: List[Tuple[str, Any]] = []
        self.kv: Dict[str, bytes] = dict(kv or {})
        self.secrets: Dict[str, str] = dict(secrets or {})

    # The HostBackend interface.

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def progress(self, percent: int, message: str) -> None:
        self.progress_reports.append((percent, message))

    def emit_event(self, event_type: str, data: str) -> None:
        self.events.append((event_type, json.loads(data)))

    def kv_get(self, key: str) -> Optional[bytes]:
        return self.kv.get(key)

    def kv_set(self, key: str, value: bytes) -> None:
        self.kv[key] = bytes(value)

    def kv_delete(self, key: str) -> None:
        self.kv.pop(key, None)

    def secret(self, name: str) -> Optional[str]:
        return self.secrets.get(name)

    # Calling plugins.

    def describe(self, plugin: type) -> dict:
        """What the component's `describe` returns, as a dict (schemas as JSON text)."""
        return PluginSpec(plugin).info()

    def call_json(self, plugin: type, action: str, input: str = "{}", **invocation: Any) -> str:
        """Calls `action` with JSON text and returns the output JSON text, or raises
        TaskError. `invocation` sets execution_id, task_id, attempt, idempotency_key or
        deadline_ms."""
        return PluginSpec(plugin).invoke(Invocation(action=action, input=input, **invocation), self)

    def call(self, plugin: type, action: str, input: Any = None, **invocation: Any) -> Any:
        """Calls `action` with a Python value (sent as JSON) and returns the output as a
        Python value, or raises TaskError."""
        return json.loads(self.call_json(plugin, action, json.dumps(input), **invocation))

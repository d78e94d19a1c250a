"""`Context`: what an action gets besides its input (the invocation and the host's services)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Optional, Protocol, Union

from ._text import shown, well_formed
from .errors import TaskError

LEVELS = ("trace", "debug", "info", "warn", "error")

#: The host's limits on the key-value space (runtime/host/src/bindings.rs): a key is at most
#: 1024 bytes of UTF-8, a value at most 4 MiB. The host aborts a call that goes beyond them,
#: so the kv methods check them first and raise a fatal TaskError naming the key instead.
MAX_KV_KEY_BYTES = 1024
MAX_KV_VALUE_BYTES = 4 * 1024 * 1024


class HostBackend(Protocol):
    """The host interface of `wit/plugin.wit`, with Python types. Inside a component it is
    the generated bindings (`harmonia._component`); in tests, `harmonia.testing.FakeHost`."""

    def log(self, level: str, message: str) -> None: ...

    def progress(self, percent: int, message: str) -> None: ...

    def emit_event(self, event_type: str, data: str) -> None: ...

    def kv_get(self, key: str) -> Optional[bytes]: ...

    def kv_set(self, key: str, value: bytes) -> None: ...

    def kv_delete(self, key: str) -> None: ...

    def secret(self, name: str) -> Optional[str]: ...


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every call: json.dumps with options would build a new one each time.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def to_json(value: Any, what: str) -> str:
    """`value` as compact JSON text, or a fatal TaskError that says `what` was not JSON.
    Dataclasses are written as objects; NaN and infinities are refused (JSON has none).
    Surrogate code points in strings and keys (which UTF-8 cannot hold, so the text would
    not reach the host) become U+FFFD."""
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise TaskError.fatal(f"{what} is not JSON-serialisable: {well_formed(str(e))}", code="not-json") from None
    # With ensure_ascii=False the encoder copies surrogates into the text as they are.
    return well_formed(text)


def _kv_key(key: str) -> str:
    """`key`, checked against what the host takes: a str of at most MAX_KV_KEY_BYTES bytes
    of UTF-8 (else a fatal TaskError naming it)."""
    if not isinstance(key, str):
        raise TypeError(f"kv keys are strings, not {type(key).__name__}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise TaskError.fatal(
            f"kv key `{shown(key)}` is not valid Unicode: it holds a surrogate code point "
            "(bytes decoded with surrogateescape?), which UTF-8 cannot hold",
            code="kv-key-invalid",
        ) from None
    if size > MAX_KV_KEY_BYTES:
        raise TaskError.fatal(
            f"kv key `{shown(key)}` is {size} bytes, over the host's limit of {MAX_KV_KEY_BYTES} bytes",
            code="kv-key-too-long",
        )
    return key


class Context:
    """One call of an action: where it comes from and the host's services.

    The invocation: `action`, `execution_id`, `task_id` (empty outside a workflow),
    `attempt` (from 1), `idempotency_key` (the same for every attempt of one task) and
    `deadline_ms` (Unix milliseconds, or None without a timeout).
    """

    def __init__(
        self,
        host: HostBackend,
        action: str,
        *,
        execution_id: str = "",
        task_id: str = "",
        attempt: int = 1,
        idempotency_key: str = "",
        deadline_ms: Optional[int] = None,
    ) -> None:
        self._host = host
        self.action = action
        self.execution_id = execution_id
        self.task_id = task_id
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.deadline_ms = deadline_ms

    def remaining_ms(self) -> Optional[int]:
        """Milliseconds left until the deadline (0 once it passed), or None without a
        timeout. Use it to bound outgoing calls."""
        if self.deadline_ms is None:
            return None
        return max(0, self.deadline_ms - int(time.time() * 1000))

    # Logging: lines reach the host's log tagged with plugin, action, execution and task.

    def log(self, level: str, message: Any) -> None:
        """Writes a line to the host's log at `level` (trace, debug, info, warn, error)."""
        level = str(level).lower()
        if level == "warning":
            level = "warn"
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}")
        self._host.log(level, well_formed(str(message)))

    def trace(self, message: Any) -> None:
        self.log("trace", message)

    def debug(self, message: Any) -> None:
        self.log("debug", message)

    def info(self, message: Any) -> None:
        self.log("info", message)

    def warn(self, message: Any) -> None:
        self.log("warn", message)

    def error(self, message: Any) -> None:
        self.log("error", message)

    def progress(self, percent: Union[int, float], message: str = "") -> None:
        """Reports how far the task is, 0 to 100 (clamped), with a short message."""
        self._host.progress(max(0, min(100, int(percent))), well_formed(str(message)))

    def emit_event(self, event_type: str, data: Any = None) -> None:
        """Publishes an event with `data` (any JSON value), correlated with the current
        execution and task. Data that is not JSON is a fatal TaskError."""
        event_type = well_formed(str(event_type))
        self._host.emit_event(event_type, to_json(data, f"the data of event `{event_type}`"))

    # The plugin's own durable key-value space: what must outlive the call goes here.

    # Keys are at most MAX_KV_KEY_BYTES bytes of UTF-8 and values at most MAX_KV_VALUE_BYTES
    # (4 MiB): beyond, a method raises a fatal TaskError (code `kv-key-too-long`,
    # `kv-value-too-large`) before calling the host.

    def kv_get(self, key: str) -> Optional[bytes]:
        """The bytes stored under `key`, or None."""
        value = self._host.kv_get(_kv_key(key))
        return None if value is None else bytes(value)

    def kv_set(self, key: str, value: Union[bytes, bytearray, str]) -> None:
        """Stores bytes (a str is stored as UTF-8, surrogates as U+FFFD) under `key`,
        replacing any earlier value."""
        key = _kv_key(key)
        if isinstance(value, str):
            value = well_formed(value).encode("utf-8")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
        else:
            raise TypeError(f"kv_set takes bytes or str, not {type(value).__name__}; use kv_set_json")
        if len(value) > MAX_KV_VALUE_BYTES:
            raise TaskError.fatal(
                f"the value for kv key `{shown(key)}` is {len(value)} bytes, over the host's limit of "
                f"{MAX_KV_VALUE_BYTES} bytes (4 MiB)",
                code="kv-value-too-large",
            )
        self._host.kv_set(key, value)

    def kv_delete(self, key: str) -> None:
        """Removes `key`; removing a missing key is fine."""
        self._host.kv_delete(_kv_key(key))

    def kv_get_json(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under `key`, or `default` when it is not set. Stored bytes
        that are not JSON are a fatal TaskError naming the key."""
        raw = self.kv_get(key)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError as e:
            raise TaskError.fatal(f"the value of key `{shown(key)}` is not JSON: {e}", code="kv-not-json") from None

    def kv_set_json(self, key: str, value: Any) -> None:
        """Stores `value` as JSON under `key`; a value that is not JSON is a fatal TaskError."""
        key = _kv_key(key)
        self.kv_set(key, to_json(value, f"the value for key `{shown(key)}`"))

    def secret(self, name: str) -> Optional[str]:
        """The secret `name` if the plugin's manifest grants it and it is set, else None."""
        return self._host.secret(well_formed(str(name)))

    def require_secret(self, name: str) -> str:
        """The secret `name`, or a fatal TaskError with code `missing-secret` naming it."""
        value = self.secret(name)
        if value is None:
            raise TaskError.fatal(
                f"secret `{name}` is not available: grant it in the plugin's manifest (secrets = [\"{name}\"]) "
                "and configure it on the host",
                code="missing-secret",
            )
        return value

    def __repr__(self) -> str:
        return (
            f"Context(action={self.action!r}, execution_id={self.execution_id!r}, task_id={self.task_id!r}, "
            f"attempt={self.attempt})"
        )

"""Stand-in for the generated `host` import: records every call in CALLS, keeps a KV dict."""
from enum import Enum
from typing import Optional

CALLS = []
KV = {}
SECRETS = {}


class Level(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def _check(name, value, kind):
    if not isinstance(value, kind):
        raise TypeError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is str:
        value.encode("utf-8")  # a WIT string is UTF-8: surrogates fail to lower, as in a component


def log(level: Level, message: str) -> None:
    _check("level", level, Level)
    _check("message", message, str)
    CALLS.append(("log", level, message))


def progress(percent: int, message: str) -> None:
    _check("percent", percent, int)
    _check("message", message, str)
    if not 0 <= percent <= 255:
        raise OverflowError("u8 out of range")
    CALLS.append(("progress", percent, message))


def emit_event(event_type: str, data: str) -> None:
    _check("event_type", event_type, str)
    _check("data", data, str)
    CALLS.append(("emit_event", event_type, data))


def kv_get(key: str) -> Optional[bytes]:
    _check("key", key, str)
    CALLS.append(("kv_get", key))
    return KV.get(key)


def kv_set(key: str, value: bytes) -> None:
    _check("key", key, str)
    _check("value", value, bytes)
    CALLS.append(("kv_set", key, value))
    KV[key] = value


def kv_delete(key: str) -> None:
    _check("key", key, str)
    CALLS.append(("kv_delete", key))
    KV.pop(key, None)


def secret(name: str) -> Optional[str]:
    CALLS.append(("secret", name))
    return SECRETS.get(name)

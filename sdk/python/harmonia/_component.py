"""The glue between a `Plugin` and the bindings componentize-py generates for the `adapter`
world (`wit_world`). Imported only inside a component: the build's entry module calls
`world_class(module)`, and componentize-py instantiates the class it returns."""

from __future__ import annotations

from types import ModuleType
from typing import List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import host as _wit_host
from wit_world.imports import types as _wit_types

from ._text import well_formed
from .errors import TaskError
from .plugin import Invocation, Plugin, PluginSpec

_KINDS = {
    "invalid-input": _wit_types.ErrorKind.INVALID_INPUT,
    "retryable": _wit_types.ErrorKind.RETRYABLE,
    "fatal": _wit_types.ErrorKind.FATAL,
    "unknown-action": _wit_types.ErrorKind.UNKNOWN_ACTION,
}

_LEVELS = {
    "trace": _wit_host.Level.TRACE,
    "debug": _wit_host.Level.DEBUG,
    "info": _wit_host.Level.INFO,
    "warn": _wit_host.Level.WARN,
    "error": _wit_host.Level.ERROR,
}


class WitHost:
    """`HostBackend` over the generated `host` import."""

    def log(self, level: str, message: str) -> None:
        _wit_host.log(_LEVELS[level], message)

    def progress(self, percent: int, message: str) -> None:
        _wit_host.progress(percent, message)

    def emit_event(self, event_type: str, data: str) -> None:
        _wit_host.emit_event(event_type, data)

    def kv_get(self, key: str) -> Optional[bytes]:
        return _wit_host.kv_get(key)

    def kv_set(self, key: str, value: bytes) -> None:
        _wit_host.kv_set(key, value)

    def kv_delete(self, key: str) -> None:
        _wit_host.kv_delete(key)

    def secret(self, name: str) -> Optional[str]:
        return _wit_host.secret(name)


def wit_error(err: TaskError) -> "_wit_types.TaskError":
    """A TaskError as the WIT record (strings well-formed: a message may quote a file name
    decoded with surrogateescape, and the host takes only UTF-8)."""
    return _wit_types.TaskError(
        kind=_KINDS[err.kind],
        message=well_formed(err.message),
        code=None if err.code is None else well_formed(err.code),
        details=err.details_json,
        retry_after_ms=err.retry_after_ms,
    )


def find_plugin(module: ModuleType) -> type:
    """The one Plugin subclass with a name that `module` defines (or, failing that,
    imports)."""

    def candidates(own: bool) -> List[type]:
        found = []
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, Plugin) and value is not Plugin and value.name:
                if not own or value.__module__ == module.__name__:
                    found.append(value)
        return found

    found = candidates(own=True) or candidates(own=False)
    if len(found) == 1:
        return found[0]
    if not found:
        raise LookupError(
            f"module `{module.__name__}` defines no harmonia.Plugin subclass with a `name`: "
            "write `class MyPlugin(Plugin): name = \"my-plugin\"` with @action methods"
        )
    names = ", ".join(sorted(c.__qualname__ for c in found))
    raise LookupError(f"module `{module.__name__}` defines several plugins ({names}): keep one per component")


def world_class(module: ModuleType) -> type:
    """The `WitWorld` class for the plugin `module` defines. Reading the plugin (and
    checking it) happens here, when the component is built, not on every call."""
    spec = PluginSpec(find_plugin(module))
    info = spec.info()
    plugin_info = _wit_types.PluginInfo(
        name=info["name"],
        version=info["version"],
        description=info["description"],
        actions=[_wit_types.ActionInfo(**a) for a in info["actions"]],
        capabilities=info["capabilities"],
    )
    host = WitHost()

    class WitWorld(wit_world.WitWorld):
        def describe(self) -> "_wit_types.PluginInfo":
            return plugin_info

        def invoke(self, call: "_wit_types.Invocation") -> str:
            try:
                return spec.invoke(
                    Invocation(
                        action=call.action,
                        input=call.input,
                        execution_id=call.execution_id,
                        task_id=call.task_id,
                        attempt=call.attempt,
                        idempotency_key=call.idempotency_key,
                        deadline_ms=call.deadline_ms,
                    ),
                    host,
                )
            except TaskError as e:
                raise Err(wit_error(e)) from None

    return WitWorld

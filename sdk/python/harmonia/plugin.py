"""`Plugin` and `@action`: what a plugin is, and how a call reaches one of its actions."""

from __future__ import annotations

import inspect
import json
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .context import Context, HostBackend, to_json
from .errors import TaskError


class Plugin:
    """Base class of a plugin. Set `name` (what workflows write as `component:`),
    `version` and `description`, and mark methods with `@action`.

    A method `def act(self, input, ctx)` gets the input as parsed JSON (a dict for an
    object; `{}` when the call has no input) and a `Context`; it returns any JSON value
    (dicts, lists, str, int, float, bool, None, dataclasses). `ctx` may be left out of the
    signature; `self.ctx` holds it too. A fresh object serves every call.
    """

    name: str = ""
    version: str = "0.1.0"
    description: str = ""
    #: Capabilities the plugin needs (`http`, `fs-read`, `secrets`, ...), shown to operators;
    #: only the plugin's manifest grants them.
    capabilities: Sequence[str] = ()

    ctx: Context


@dataclass(frozen=True)
class ActionSpec:
    """One action: its name, description, schemas (JSON text) and the method behind it."""

    name: str
    description: str
    input_schema: Optional[str]
    output_schema: Optional[str]
    method: str
    arity: int  # positional parameters after self: 0, 1 (input) or 2 (input, ctx)


def action(
    description: Any = None,
    *,
    name: Optional[str] = None,
    input_schema: Any = None,
    output_schema: Any = None,
) -> Any:
    """Marks a method of a `Plugin` as an action.

        @action("Counts words")                    # the name is the method's name
        @action("Extracts text", name="extract-text", input_schema={"type": "object"})
        @action                                    # the description is the docstring's first line

    Schemas are JSON Schemas, as a dict or as JSON text, published by `describe`.
    """
    if callable(description):  # bare @action
        return action()(description)

    def mark(fn: Callable) -> Callable:
        fn.__harmonia_action__ = {  # type: ignore[attr-defined]
            "name": name,
            "description": description,
            "input_schema": input_schema,
            "output_schema": output_schema,
        }
        return fn

    return mark


class PluginSpec:
    """A plugin class checked and read once (when the component is built): its info and
    actions. `describe()` and `invoke()` of the component come from here."""

    def __init__(self, cls: type) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise TypeError(f"{cls!r} is not a subclass of harmonia.Plugin")
        self.cls = cls
        where = f"plugin class {cls.__qualname__}"
        for attr in ("name", "version", "description"):
            if not isinstance(getattr(cls, attr), str):
                raise TypeError(f"{where}: `{attr}` must be a string")
        if not cls.name:
            raise ValueError(f"{where}: set `name = \"...\"`, the name workflows use as `component:`")
        self.name: str = cls.name
        self.version: str = cls.version
        self.description: str = cls.description
        capabilities = cls.capabilities
        if isinstance(capabilities, str) or not all(isinstance(c, str) for c in capabilities):
            raise TypeError(f"{where}: `capabilities` must be a list of strings")
        self.capabilities: List[str] = list(capabilities)
        self.actions: Dict[str, ActionSpec] = {}
        for method, fn in _marked_methods(cls):
            spec = _action_spec(where, method, fn)
            if spec.name in self.actions:
                raise ValueError(
                    f"{where}: action `{spec.name}` is defined twice "
                    f"(methods {self.actions[spec.name].method} and {method})"
                )
            self.actions[spec.name] = spec
        if not self.actions:
            raise ValueError(f"{where} has no actions: mark its methods with @action")

    def info(self) -> dict:
        """What `describe` returns, as a dict with the WIT record's fields."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "actions": [
                {
                    "name": a.name,
                    "description": a.description,
                    "input_schema": a.input_schema,
                    "output_schema": a.output_schema,
                }
                for a in self.actions.values()
            ],
            "capabilities": list(self.capabilities),
        }

    def invoke(self, call: "Invocation", host: HostBackend) -> str:
        """Runs one call and returns its output as JSON text, or raises `TaskError`.

        Whatever goes wrong becomes a TaskError, never another exception: input that is
        not JSON (invalid-input), an unknown action (unknown-action), output that is not
        JSON (fatal, code `not-json`), and any exception the action raises other than
        TaskError (fatal, code `exception`, with the exception's type and text in the
        message and the traceback in the details, also logged at error level; a
        MemoryError has code `out-of-memory`).
        """
        spec = self.actions.get(call.action)
        if spec is None:
            raise TaskError.unknown_action(call.action, list(self.actions))
        value = parse_input(call.action, call.input)
        ctx = Context(
            host,
            call.action,
            execution_id=call.execution_id,
            task_id=call.task_id,
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
            deadline_ms=call.deadline_ms,
        )
        try:
            plugin = self.cls()
            plugin.ctx = ctx
            method = getattr(plugin, spec.method)
            args: Tuple[Any, ...] = (value, ctx)[: spec.arity]
            output = method(*args)
            return to_json(output, f"the output of action `{spec.name}`")
        except TaskError:
            raise
        except BaseException as e:  # noqa: BLE001 - every failure must become a task-error, not a trap
            raise _from_exception(self.name, spec.name, e, host) from None


@dataclass
class Invocation:
    """One call, with the fields of the WIT `invocation` record (input as JSON text)."""

    action: str
    input: str = "{}"
    execution_id: str = ""
    task_id: str = ""
    attempt: int = 1
    idempotency_key: str = ""
    deadline_ms: Optional[int] = None


def parse_input(action_name: str, text: str) -> Any:
    """The call's input as a Python value; a missing input (empty or `null`) is `{}`."""
    text = (text or "").strip()
    if not text or text == "null":
        return {}
    try:
        return json.loads(text)
    except ValueError as e:
        raise TaskError.invalid_input(
            f"invalid input for action `{action_name}`: not JSON ({e})", code="not-json"
        ) from None


_MISSING: Any = object()

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "an array", dict: "an object"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def field(input: Any, name: str, type: Optional[type] = None, default: Any = _MISSING) -> Any:
    """`input[name]`, checked: a missing field (or null) is `default` when one is given,
    else an invalid-input TaskError naming the field (code `missing-field`); a value of the
    wrong type is an invalid-input TaskError (code `wrong-type`). `type` is one of str,
    int, float, bool, list, dict (int accepts 3.0; float accepts integers; bool is never
    an int). Both errors carry `details` = {"field", "expected"[, "got"]}.

        text = field(input, "text", str)
        top = field(input, "top", int, default=5)
    """
    if not isinstance(input, dict):
        raise TaskError.invalid_input(
            f"the input must be a JSON object with field `{name}`, not {_json_type(input)}",
            code="wrong-type",
            details={"field": None, "expected": "an object", "got": _json_type(input)},
        )
    expected = _TYPE_NAMES.get(type, getattr(type, "__name__", "any value")) if type else "any value"
    value = input.get(name)
    if value is None:
        if default is not _MISSING:
            return default
        raise TaskError.invalid_input(
            f"missing field `{name}` ({expected})",
            code="missing-field",
            details={"field": name, "expected": expected},
        )
    if type is None:
        return value
    ok = isinstance(value, type) and not (isinstance(value, bool) and type is not bool)
    if not ok and type is int and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok and type is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        shown = json.dumps(value, ensure_ascii=False, default=str)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        raise TaskError.invalid_input(
            f"field `{name}` must be {expected}, not {_json_type(value)} ({shown})",
            code="wrong-type",
            details={"field": name, "expected": expected, "got": _json_type(value)},
        )
    return value


def _marked_methods(cls: type) -> List[Tuple[str, Callable]]:
    """The @action methods in definition order, base classes first; an override in a
    subclass keeps its base's place."""
    order: Dict[str, Callable] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if attr in order or hasattr(fn, "__harmonia_action__"):
                order[attr] = fn
    return [(attr, fn) for attr, fn in order.items() if hasattr(fn, "__harmonia_action__")]


def _action_spec(where: str, method: str, fn: Callable) -> ActionSpec:
    marks = fn.__harmonia_action__  # type: ignore[attr-defined]
    name = marks["name"] or method
    description = marks["description"]
    if description is None:
        doc = inspect.getdoc(fn) or ""
        description = doc.strip().splitlines()[0] if doc.strip() else ""
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        params = []
    arity = len(params) - 1  # without self
    if arity < 0 or arity > 2:
        raise TypeError(f"{where}: action method {method} must take (self), (self, input) or (self, input, ctx)")
    return ActionSpec(
        name=name,
        description=str(description),
        input_schema=_schema(where, name, "input_schema", marks["input_schema"]),
        output_schema=_schema(where, name, "output_schema", marks["output_schema"]),
        method=method,
        arity=arity,
    )


def _schema(where: str, action_name: str, what: str, schema: Any) -> Optional[str]:
    if schema is None:
        return None
    if isinstance(schema, str):
        try:
            json.loads(schema)
        except ValueError as e:
            raise ValueError(f"{where}: the {what} of action `{action_name}` is not JSON: {e}") from None
        return schema
    return json.dumps(schema, separators=(",", ":"))


def _from_exception(plugin_name: str, action_name: str, e: BaseException, host: HostBackend) -> TaskError:
    """A fatal TaskError for an exception an action did not handle."""
    kind = type(e).__name__
    text = str(e)
    trace = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    details = {"exception": kind, "traceback": trace}
    if isinstance(e, MemoryError):
        # The component's linear memory reached the manifest's limit (64 MiB by default).
        return TaskError.fatal(
            f"action `{action_name}` ran out of memory (MemoryError): raise `memory_mb` in "
            f"plugins/{plugin_name}.toml or give it a smaller input",
            code="out-of-memory",
            details=details,
        )
    try:
        host.log("error", f"action `{action_name}` raised {kind}:\n{trace.rstrip()}")
    except BaseException:  # noqa: BLE001 - the error below matters more than the log line
        pass
    message = f"action `{action_name}` raised {kind}: {text}" if text else f"action `{action_name}` raised {kind}"
    if isinstance(e, ImportError):
        # The component holds only the modules imported while it was built.
        message += " (import modules at the top of the plugin's module: an import at call time finds nothing)"
    return TaskError.fatal(message, code="exception", details=details)

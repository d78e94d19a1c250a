"""`TaskError`: why a task failed, in the shape of the WIT `task-error` record."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from ._text import well_formed

# The WIT `error-kind` cases, as workflow authors see them in `tasks.<id>.error.kind`.
INVALID_INPUT = "invalid-input"
RETRYABLE = "retryable"
FATAL = "fatal"
UNKNOWN_ACTION = "unknown-action"
KINDS = (INVALID_INPUT, RETRYABLE, FATAL, UNKNOWN_ACTION)

#: The largest `retry_after_ms` the WIT record holds (a u64); larger values are clamped to it.
MAX_RETRY_AFTER_MS = 2**64 - 1


def _retry_after(value: Any) -> Optional[int]:
    """A delay as the WIT u64 of milliseconds: whole (rounded down), a negative one as 0, one
    beyond the u64 (infinity too) as its largest value, for which the host would abort the
    call. NaN is left out (None), as the JavaScript SDK does."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return 0 if value < 0 else MAX_RETRY_AFTER_MS
    return min(max(0, int(value)), MAX_RETRY_AFTER_MS)


class TaskError(Exception):
    """A task failure: raise it from an action and the workflow sees it as the task's error.

    Build one with a class method, which says what the engine does next::

        raise TaskError.invalid_input("`text` must be a string", code="wrong-type")
        raise TaskError.retryable("the service answered 503", code="http-503",
                                  details={"body": body}, retry_after_ms=30_000)
        raise TaskError.fatal("the archive is corrupt")

    `details` is any JSON value (a value that is not JSON is stored as its text).
    `retry_after_ms` is clamped to 0 .. 2**64 - 1 (what the WIT u64 holds); NaN is left out.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        code: Optional[str] = None,
        details: Any = None,
        retry_after_ms: Optional[int] = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}; one of {', '.join(KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = str(message)
        self.code = None if code is None else str(code)
        self.details = details
        self.retry_after_ms = _retry_after(retry_after_ms)

    @classmethod
    def invalid_input(cls, message: str, *, code: Optional[str] = None, details: Any = None) -> "TaskError":
        """The input does not fit the action; the engine will not retry."""
        return cls(INVALID_INPUT, message, code=code, details=details)

    @classmethod
    def retryable(
        cls,
        message: str,
        *,
        code: Optional[str] = None,
        details: Any = None,
        retry_after_ms: Optional[int] = None,
    ) -> "TaskError":
        """A transient failure (a timeout, a 503): the engine may retry, not before
        `retry_after_ms` milliseconds when that is given."""
        return cls(RETRYABLE, message, code=code, details=details, retry_after_ms=retry_after_ms)

    @classmethod
    def fatal(cls, message: str, *, code: Optional[str] = None, details: Any = None) -> "TaskError":
        """A permanent failure: the engine does not retry unless the workflow asks for it."""
        return cls(FATAL, message, code=code, details=details)

    @classmethod
    def unknown_action(cls, action: str, known: "list[str]") -> "TaskError":
        """The action is not one this plugin offers (the SDK answers this by itself)."""
        listed = ", ".join(known) if known else "none"
        return cls(UNKNOWN_ACTION, f"unknown action `{action}`; known actions: {listed}")

    @property
    def details_json(self) -> Optional[str]:
        """`details` as JSON text, or None. A value that is not JSON becomes its text, so
        that reporting an error never fails in turn; surrogates (which UTF-8 cannot hold)
        become U+FFFD."""
        if self.details is None:
            return None
        try:
            text = json.dumps(self.details, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            text = json.dumps(str(self.details), ensure_ascii=False)
        return well_formed(text)

    def to_dict(self) -> dict:
        """The error as workflows see it: kind, message and the fields that are set."""
        out: dict = {"kind": self.kind, "message": self.message}
        if self.code is not None:
            out["code"] = self.code
        if self.details is not None:
            out["details"] = json.loads(self.details_json or "null")
        if self.retry_after_ms is not None:
            out["retry_after_ms"] = self.retry_after_ms
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskError) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.kind}{code}: {self.message}"

    def __repr__(self) -> str:
        return f"TaskError({self.to_dict()!r})"

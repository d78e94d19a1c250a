"""Stand-in for componentize-py's `componentize_py_types` (same shapes)."""
from dataclasses import dataclass
from typing import Any


@dataclass
class Some:
    value: Any


@dataclass
class Ok:
    value: Any


@dataclass(frozen=True)
class Err(Exception):
    value: Any

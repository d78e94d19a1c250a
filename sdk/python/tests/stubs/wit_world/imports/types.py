"""Stand-in for the generated `types` interface module (same dataclasses and enum)."""
from dataclasses import dataclass
from enum import Enum
from typing import List, Optional


@dataclass
class ActionInfo:
    name: str
    description: str
    input_schema: Optional[str]
    output_schema: Optional[str]


@dataclass
class PluginInfo:
    name: str
    version: str
    description: str
    actions: List[ActionInfo]
    capabilities: List[str]


@dataclass
class Invocation:
    action: str
    input: str
    execution_id: str
    task_id: str
    attempt: int
    idempotency_key: str
    deadline_ms: Optional[int]


class ErrorKind(Enum):
    INVALID_INPUT = 0
    RETRYABLE = 1
    FATAL = 2
    UNKNOWN_ACTION = 3


@dataclass
class TaskError:
    kind: ErrorKind
    message: str
    code: Optional[str]
    details: Optional[str]
    retry_after_ms: Optional[int]

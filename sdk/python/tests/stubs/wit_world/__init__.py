"""Stand-in for the generated `wit_world` module of the `adapter` world."""
from typing import Protocol

from .imports import types


class WitWorld(Protocol):
    def describe(self) -> types.PluginInfo:
        raise NotImplementedError

    def invoke(self, call: types.Invocation) -> str:
        raise NotImplementedError

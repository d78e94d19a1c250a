"""Harmonia plugins in Python.

    from harmonia import Plugin, TaskError, action, field

    class Greeter(Plugin):
        name = "greeter"
        version = "0.1.0"
        description = "Greets people"

        @action("Says hello to someone")
        def greet(self, input, ctx):
            who = field(input, "name", str)
            ctx.info(f"greeting {who}")
            return {"greeting": f"Hello, {who}!"}

Build it into a component with `python -m harmonia build DIR -o greeter.wasm`.
"""

from .context import Context
from .errors import TaskError
from .plugin import Plugin, action, field

__all__ = ["Context", "Plugin", "TaskError", "action", "field"]
__version__ = "0.1.0"

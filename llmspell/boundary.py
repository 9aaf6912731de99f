"""The values that cross between Python and a spell, in one leaf module.

Everything an engine converts specially lives here: objects handed to a script
(`ObjectRef`), error tables (`ErrorValue`), functions written in the spell
(`ScriptFunction`), lazily converted mappings (`LazyView`), the handle table a
script holds Python objects by (`Handles`), and the marker keys both engines
and their preludes use on the wire. `script_error` is the one place a Python
exception becomes the error a script sees.

This module imports nothing from llmspell but `errors`, so core, api, bridge
and engines can all use it without leaning on each other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import Code, LLMSpellError

# Marker keys on the wire (the preludes in builtins/ use the same names).
HANDLE = "__handle"     # a table standing for a Python object: its handle id
CLASS = "__class"       # ...and the script class it presents (Tool, Agent, …)
VIEW = "__view"         # a LazyView's handle id
FNREF = "__fnref"       # a JS function handed back to JS by reference
FN = "__fn"             # a JS function handed to Python (its reference id)
ERROR = "__err"         # an error table to raise or present as an error object
ERROR_FLAG = "__error"  # set on error objects coming back from JS


@dataclass
class ObjectRef:
    """A Python object handed to a script as an object of class `cls` with `fields`."""
    cls: str
    obj: Any
    fields: dict[str, Any] = field(default_factory=dict)


class ErrorValue(dict):  # type: ignore[type-arg]
    """A dict that engines present as a script error object (with tostring)."""


class ScriptCallee(Protocol):
    """What a ScriptFunction needs of the engine it came from."""
    name: str

    async def call_function(self, ref: Any, args: tuple[Any, ...]) -> Any: ...


class ScriptFunction:
    """A function written in the spell, callable from Python as `await f(*args)`.

    Each call runs as its own coroutine on the spell's scheduler, so the
    function may itself call waiting APIs.
    """

    __slots__ = ("engine", "ref", "name")

    def __init__(self, engine: ScriptCallee, ref: Any, name: str = "function") -> None:
        self.engine = engine
        self.ref = ref
        self.name = name

    async def __call__(self, *args: Any) -> Any:
        return await self.engine.call_function(self.ref, args)

    @property
    def batches(self) -> bool:
        """True when the engine can take several calls in one go (see call_batch)."""
        return hasattr(self.engine, "call_batch")

    async def call_batch(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        return await self.engine.call_batch(self.ref, calls)  # type: ignore[attr-defined, no-any-return]

    def __repr__(self) -> str:
        return f"<{self.engine.name} function {self.name}>"


class Handles(dict):  # type: ignore[type-arg]
    """Python objects a script holds, by small integer id (same object, same id)."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: dict[int, int] = {}

    def add(self, obj: Any) -> int:
        hid = self._ids.get(id(obj))
        if hid is None:
            hid = len(self) + 1
            self[hid] = obj
            self._ids[id(obj)] = hid
        return hid

    def clear(self) -> None:
        super().clear()
        self._ids.clear()


class LazyView:
    """A mapping handed to a script without converting it up front: the engine
    shows it as a read-only proxy and converts only the keys the script reads.
    Workflow contexts use it, so a step costs the same at step 1 and step 1000."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


def script_error(exc: BaseException, where: str, *, debug: bool = False) -> LLMSpellError:
    """The error a script sees for an exception raised by the API function `where`.

    Cancellation and memory exhaustion are not errors a script may catch: they
    propagate. A Python bug still reaches the spell as an error value (6009),
    with its traceback on stderr under --debug.
    """
    if isinstance(exc, LLMSpellError):
        return exc
    if isinstance(exc, (asyncio.CancelledError, MemoryError, KeyboardInterrupt, SystemExit)):
        raise exc
    if isinstance(exc, TimeoutError):
        return LLMSpellError(Code.SYSTEM_TIMEOUT, f"{where}: timed out")
    if debug:
        import traceback
        traceback.print_exception(exc)
    return LLMSpellError(Code.SYSTEM_INTERNAL_ERROR, f"{where}: {type(exc).__name__}: {exc}")

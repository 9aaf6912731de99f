"""Engine-neutral bridge pieces: script callbacks and the Engine protocol."""

from __future__ import annotations

from typing import Any, Protocol


class ScriptFunction:
    """A function written in the spell, callable from Python as `await f(*args)`.

    Each call runs as its own coroutine on the spell's scheduler, so the
    function may itself call waiting APIs.
    """

    __slots__ = ("engine", "ref", "name")

    def __init__(self, engine: "Engine", ref: Any, name: str = "function") -> None:
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
        return await self.engine.call_batch(self.ref, calls)

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


class Engine(Protocol):
    name: str

    def load_file(self, path: str, display: str) -> Any: ...
    def load_string(self, code: str, chunkname: str) -> Any: ...
    async def run_main(self, chunk: Any) -> Any: ...
    async def call_function(self, ref: Any, args: tuple[Any, ...]) -> Any: ...
    def close(self) -> None: ...

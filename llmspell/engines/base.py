"""What an engine is, and what it needs of the run that hosts it.

An engine knows how to load code, run it as coroutines driven by asyncio, call
back into functions the spell defined, and convert values at the boundary. It
knows nothing of agents or tools: it installs whatever API registry it is
handed and passes its host, as the run context, to every API call.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core.context import RunContext


class EngineHost(RunContext, Protocol):
    """A run as an engine sees it: the run context plus the spell's arguments,
    folder and limits."""

    params: dict[str, Any]
    args: list[str]
    spell_dir: str | None       # where `require`/`import` may look (None for inline code)
    deadline: float             # time.monotonic() at which the run's time limit expires
    resident: bool              # stays loaded after its top level (the daemon): open-ended

    def timeout_message(self) -> str: ...
    def memory_message(self) -> str: ...


class Engine(Protocol):
    name: str

    def load_file(self, path: str, display: str) -> Any: ...
    def load_string(self, code: str, chunkname: str) -> Any: ...
    async def run_main(self, chunk: Any) -> Any: ...
    async def call_function(self, ref: Any, args: tuple[Any, ...]) -> Any: ...
    def close(self) -> None: ...

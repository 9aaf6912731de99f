"""`Events`: publish, subscribe, replay."""

from __future__ import annotations

from typing import Any

from ..boundary import ScriptFunction
from ..core.context import RunContext
from .registry import Options, api


@api("Events.emit")
def emit(run: RunContext, type: str, data: Any = None) -> str:
    """Publish an event; returns its id. Subscribers run on the scheduler."""
    from ..core.events import compile_pattern
    compile_pattern(type)
    return run.events.emit(type, data, run.display, checked=True)["id"]


@api("Events.subscribe")
def subscribe(run: RunContext, pattern: str, handler: ScriptFunction) -> str:
    """Call handler(event) for events matching `pattern` (`*` one segment, `>` the rest)."""
    return run.events.subscribe(pattern, handler, owner=run)


@api("Events.unsubscribe")
def unsubscribe(run: RunContext, id: str) -> bool:
    return run.events.unsubscribe(id)


@api("Events.replay", waits=True)
def replay(run: RunContext, options: Options | None = None) -> list[dict[str, Any]]:
    """Persisted events: { type = pattern, since = ts, until = ts, limit = n }."""
    o = options or {}
    return run.events.replay(str(o.get("type") or ">"), o.get("since"), int(o.get("limit") or 100),
                             o.get("until"))

"""`Hooks`: intercept tools, agents, workflows and the system."""

from __future__ import annotations

from typing import Any

from ..boundary import ScriptFunction
from ..core.context import RunContext
from .registry import Options, api


@api("Hooks.register")
def register(run: RunContext, point: str, handler: ScriptFunction, options: Options | None = None) -> str:
    """Run handler(ctx) at `point`; lower priority runs first. Returns the hook id."""
    prio = (options or {}).get("priority", 100)
    return run.hooks.register(point, handler, prio, owner=run)


@api("Hooks.unregister")
def unregister(run: RunContext, id: str) -> bool:
    return run.hooks.unregister(id)


@api("Hooks.list")
def list_(run: RunContext, point: str | None = None) -> list[dict[str, Any]]:
    return [h for h in run.hooks.list() if point is None or h["point"] == point]

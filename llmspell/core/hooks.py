"""Hook points: handlers run in priority order and may modify, replace, cancel or retry."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..errors import Code, LLMSpellError

POINTS = (
    "before_agent_execution", "after_agent_execution", "agent_error",
    "before_llm_call", "after_llm_call",
    "before_tool_execution", "after_tool_execution", "tool_error",
    "before_workflow_execution", "before_workflow_step", "after_workflow_step",
    "after_workflow_execution", "workflow_error",
    "system_startup", "system_shutdown",
)

HookFn = Callable[[dict[str, Any]], Awaitable[Any] | Any]

# How often a *_error hook may ask to retry one call (tool, agent or workflow)
# before the error stands: a hook that always says "retry" must not loop forever.
MAX_RETRIES = 5


@dataclass
class Hook:
    id: str
    point: str
    handler: HookFn
    priority: int
    owner: object
    seq: int


@dataclass
class HookOutcome:
    """What the handlers decided: the (maybe modified) ctx, replacement, retry."""
    ctx: dict[str, Any]
    replaced: bool = False
    output: Any = None
    retry: bool = False

    def retries(self, attempt: int) -> bool:
        """True when a hook asked to retry and attempt `attempt` may be followed by another."""
        return self.retry and attempt < MAX_RETRIES


@dataclass
class HookRegistry:
    timeout: float = 5.0
    by_point: dict[str, list[Hook]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def register(self, point: str, handler: HookFn, priority: int = 100, owner: object = None) -> str:
        if point not in POINTS:
            raise LLMSpellError(Code.EVENT_HANDLER_NOT_FOUND, f"unknown hook point {point!r}",
                                suggestions=["one of: " + ", ".join(POINTS)])
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise LLMSpellError(Code.HOOK_INVALID_PRIORITY, f"hook priority must be an integer, got {priority!r}")
        n = next(self._seq)
        hook = Hook(f"hook_{n}", point, handler, priority, owner, n)
        lst = self.by_point.setdefault(point, [])
        lst.append(hook)
        lst.sort(key=lambda h: (h.priority, h.seq))
        return hook.id

    def unregister(self, hook_id: str) -> bool:
        for lst in self.by_point.values():
            for h in lst:
                if h.id == hook_id:
                    lst.remove(h)
                    return True
        return False

    def remove_owner(self, owner: object) -> None:
        for point, lst in self.by_point.items():
            self.by_point[point] = [h for h in lst if h.owner is not owner]

    def list(self) -> list[dict[str, Any]]:
        return [{"id": h.id, "point": h.point, "priority": h.priority}
                for lst in self.by_point.values() for h in lst]

    async def fire(self, point: str, component: str, name: str, run_id: str,
                   **fields: Any) -> HookOutcome | None:
        """Run the hooks at `point` with the context every caller builds the same way:
        { point, component, name, <fields>, run_id }. None when no hook is registered
        there, so the common case costs one dict lookup. Handlers may change `input`
        and `output` in `outcome.ctx`."""
        if not self.by_point.get(point):
            return None
        return await self.run(point, {"point": point, "component": component, "name": name, **fields,
                                      "run_id": run_id})

    async def run(self, point: str, ctx: dict[str, Any]) -> HookOutcome:
        out = HookOutcome(ctx)
        for hook in list(self.by_point.get(point, ())):
            try:
                r = hook.handler(ctx)
                if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                    r = await asyncio.wait_for(r, self.timeout) if self.timeout else await r
            except asyncio.TimeoutError:
                raise LLMSpellError(
                    Code.HOOK_TIMEOUT, f"{point} hook {hook.id} took longer than {self.timeout:g}s"
                ) from None
            except LLMSpellError:
                raise
            except Exception as e:
                raise LLMSpellError(Code.HOOK_EXECUTION_FAILED, f"{point} hook {hook.id} failed: {e}") from e
            if r is None or r is True:
                continue
            if not isinstance(r, dict) or "action" not in r:
                raise LLMSpellError(Code.HOOK_EXECUTION_FAILED, f"{point} hook {hook.id} returned {type(r).__name__}; "
                                    "expected nothing or a table with 'action'",
                                    suggestions=["return { action = 'modify', input = ... }"])
            action = r.get("action")
            if action == "continue":
                continue
            if action == "modify":
                for key in ("input", "output"):
                    if key in r:
                        ctx[key] = r[key]
            elif action == "replace":
                out.replaced, out.output = True, r.get("output")
                return out
            elif action == "cancel":
                reason = r.get("reason") or "cancelled by a hook"
                raise LLMSpellError(Code.HOOK_CANCELLED, f"{ctx.get('name') or point}: {reason}",
                                    details={"point": point, "hook": hook.id})
            elif action == "retry":
                if not point.endswith("_error"):
                    raise LLMSpellError(
                        Code.HOOK_EXECUTION_FAILED, f"'retry' is only allowed at *_error points, not {point}"
                    )
                out.retry = True
                return out
            else:
                raise LLMSpellError(Code.HOOK_EXECUTION_FAILED, f"{point} hook returned unknown action {action!r}",
                                    suggestions=["continue, modify, replace, cancel or retry"])
        return out

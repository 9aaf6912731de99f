"""Calling a declared API function for an engine: argument binding, option-key
normalisation and error translation, shared by every engine."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable

from ..api.registry import ApiFunction
from ..boundary import script_error
from ..core.context import RunContext
from ..errors import Code, LLMSpellError

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
# Option tables nest these sections, whose own keys are options too. Everything
# else inside an option table (inputs, schemas, data) is left exactly as given.
_NESTED = {"memory", "retry", "rate_limit", "budget", "steps", "trigger", "if_true", "if_false", "body",
           "map", "fallback", "options"}


def snake_keys(value: Any) -> Any:
    """`{ systemPrompt = … }` → `{ system_prompt = … }` for option tables from JS."""
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        key = _CAMEL.sub(r"_\1", k).lower() if isinstance(k, str) and not k.startswith("__") else k
        out[key] = snake_keys(v) if key in _NESTED else v
    return out


def bind(f: ApiFunction, args: list[Any], run: RunContext, handles: dict[int, Any],
         camel_case: bool) -> list[Any]:
    if camel_case and f.has_options:
        off = 1 if f.is_method else 0
        args = [snake_keys(a) if off <= i < len(f.params) + off and f.params[i - off].options else a
                for i, a in enumerate(args)]
    if f.is_method:
        obj = handles.get(args[0]) if args and type(args[0]) is int else None
        if obj is None or (f.self_type is not None and not isinstance(obj, f.self_type)):
            raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"{f.public}: call it as a method of a {f.owner}, "
                                f"obj:{f.name}(...)")
        return [obj, *f.bind_args(args[1:])]
    bound = f.bind_args(args)
    if f.receiver is not None:
        return [f.receiver(run), *bound]
    return bound


def call_sync(f: ApiFunction, run: RunContext, args: list[Any], to_script: Callable[[Any], Any],
              err: Callable[[LLMSpellError], Any]) -> tuple[bool, Any]:
    """Call a function that does not wait: (True, converted value) or (False, script error)."""
    try:
        return True, to_script(f.fn(run, *args))
    except Exception as e:
        return False, err(script_error(e, f.public, debug=run.debug))


async def call_async(f: ApiFunction, run: RunContext, args: list[Any], to_script: Callable[[Any], Any],
                     err: Callable[[LLMSpellError], Any]) -> tuple[bool, Any]:
    """Call and await a waiting function: (True, converted value) or (False, script error)."""
    try:
        return True, to_script(await f.fn(run, *args))
    except Exception as e:
        return False, err(script_error(e, f.public, debug=run.debug))


async def settle(f: ApiFunction, run: RunContext, task: "asyncio.Future[Any]") -> tuple[bool, Any]:
    """Await a call `start_eager` left pending: (True, value) or (False, LLMSpellError)."""
    try:
        return True, await task
    except Exception as e:
        return False, script_error(e, f.public, debug=run.debug)


def start_eager(f: ApiFunction, run: RunContext, args: list[Any]) -> tuple[str, Any]:
    """Start an async API call synchronously. Returns ("done", value) when it
    finished without waiting, ("error", LLMSpellError), or ("pending", task)
    when it suspended — the rest then runs as an asyncio task.

    Most calls (a sync tool with no hooks, say) never wait, and finishing them
    here spares the engine a task and an event-loop round trip each."""
    coro = f.fn(run, *args)
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return "done", stop.value
    except Exception as e:
        return "error", script_error(e, f.public, debug=run.debug)
    return "pending", asyncio.ensure_future(_resume(coro, yielded))


async def _resume(coro: Any, yielded: Any) -> Any:
    """Drive a coroutine that was started by hand, the way a Task would."""
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)
            else:
                yielded._asyncio_future_blocking = False
                await asyncio.wait([yielded])
        except asyncio.CancelledError:
            try:
                coro.throw(asyncio.CancelledError())
            except (asyncio.CancelledError, StopIteration):
                pass
            raise
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value

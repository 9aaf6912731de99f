"""`Async`: sleep, all, race, timeout, retry — branches really overlap on the loop."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ..boundary import ScriptFunction
from ..core.concurrency import gather_or_cancel
from ..core.context import RunContext
from ..errors import Code, LLMSpellError
from .registry import Options, api


def _fns(name: str, fns: Any) -> list[ScriptFunction]:
    if isinstance(fns, dict) and not fns:
        return []
    if not isinstance(fns, list) or not all(isinstance(f, ScriptFunction) for f in fns):
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"Async.{name}: expects an array of functions")
    return fns


@api("Async.sleep")
async def sleep(run: RunContext, seconds: float) -> None:
    """Pause this coroutine; others keep running."""
    if seconds < 0:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "Async.sleep: seconds must be >= 0")
    await asyncio.sleep(seconds)


@api("Async.all")
async def all_(run: RunContext, fns: Any) -> list[Any]:
    """Run every function concurrently; their results in order. The first error cancels the rest."""
    return await gather_or_cancel([f() for f in _fns("all", fns)])


@api("Async.race")
async def race(run: RunContext, fns: Any) -> Any:
    """The result (or error) of whichever function finishes first; the rest are cancelled."""
    tasks = [asyncio.ensure_future(f()) for f in _fns("race", fns)]
    if not tasks:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "Async.race: needs at least one function")
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@api("Async.timeout")
async def timeout(run: RunContext, seconds: float, fn: ScriptFunction) -> Any:
    """fn()'s result, or error 6007 if it takes longer than `seconds`."""
    try:
        return await asyncio.wait_for(fn(), seconds)
    except TimeoutError:
        raise LLMSpellError(Code.SYSTEM_TIMEOUT, f"Async.timeout: did not finish within {seconds:g}s") from None


@api("Async.retry")
async def retry(run: RunContext, fn: ScriptFunction, options: Options | None = None) -> Any:
    """Call fn until it succeeds: { attempts = 3, backoff = 0.2, max_backoff = 10, jitter = true }."""
    o = options or {}
    attempts = max(1, int(o.get("attempts", 3)))
    backoff = float(o.get("backoff", 0.2))
    cap = float(o.get("max_backoff", 10))
    for i in range(attempts):
        try:
            return await fn(i + 1)
        except LLMSpellError:
            if i == attempts - 1:
                raise
            delay = min(cap, backoff * (2 ** i))
            if o.get("jitter", True):
                delay *= 0.5 + random.random() / 2
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")

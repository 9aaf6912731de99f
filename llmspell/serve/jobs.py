"""Scheduler jobs under `llmspell serve`: what a job is and how one firing runs.

Each firing is its own run (run id, time limit, record). A job that errors,
hangs past its timeout or exhausts its runtime's memory is stopped and
recorded; nothing else is affected.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..boundary import ScriptFunction
from ..core.agents import Agent
from ..core.events import EventBus
from ..core.workflows import Workflow
from ..errors import Code, LLMSpellError

if TYPE_CHECKING:
    from ..runtime import SpellRun
    from .history import JobHistory


def summarize(value: Any, limit: int = 300) -> Any:
    """A short, JSON-able view of a job's output for its history."""
    import json
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return value if len(text) <= limit and not isinstance(value, (dict, list)) else text[:limit]


@dataclass(eq=False)
class Job:
    name: str
    spec: dict[str, Any]
    owner: "SpellRun"
    trigger: dict[str, Any]
    overlap: str = "skip"
    timeout: float = 300.0
    missed: str = "skip"
    jitter: float = 0.0
    restart: bool = False
    running: int = 0
    queue: asyncio.Queue[Any] | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)     # trigger loops
    runs: set[asyncio.Task[Any]] = field(default_factory=set)        # firings in flight
    last: dict[str, Any] | None = None
    next_fire: float | None = None

    @classmethod
    def from_spec(cls, run: "SpellRun", spec: dict[str, Any], default_timeout: float) -> "Job":
        trig = dict(spec["trigger"])
        missed = spec.get("missed", trig.get("missed", "skip"))
        if missed not in ("skip", "run_once"):
            raise LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"Scheduler.register({spec['name']!r}): missed must be 'skip' or 'run_once'",
            )
        return cls(spec["name"], spec, run, trig, spec.get("overlap", "skip"),
                   float(spec.get("timeout") or default_timeout), missed, float(spec.get("jitter") or 0),
                   bool(spec.get("restart", False)))

    def kind(self) -> str:
        return next(k for k in ("cron", "every", "event", "webhook", "watch", "start") if k in self.trigger)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "spell": self.owner.display, "trigger": _plain(self.trigger),
                "overlap": self.overlap, "timeout": self.timeout, "running": self.running,
                "next_run": self.next_fire, "last_run": self.last,
                "description": self.spec.get("description")}


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}


class JobRunner:
    """Fires jobs: overlap policy, jitter, per-run limit, history, restarts.

    It owns the firings in flight (`inflight`, awaited on shutdown) and the
    `stopping` switch; `is_current(job)` tells whether a job is still the live
    one of its name (a restart of a replaced job does not happen)."""

    def __init__(self, events: EventBus, history: "JobHistory", is_current: Callable[[Job], bool]) -> None:
        self.events = events
        self.history = history
        self.is_current = is_current
        self.inflight: set[asyncio.Task[Any]] = set()
        self.stopping = False

    def fire(self, job: Job, trigger: dict[str, Any], source: str) -> str | None:
        """Start a firing (or queue or skip it, by the overlap policy); returns its run id."""
        rid = uuid.uuid4().hex[:12]
        data = {**trigger, "job": job.name, "source": source, "run_id": rid, "fired_at": time.time()}
        if job.running and job.overlap == "skip":
            self._record(job, {"run_id": rid, "status": "skipped", "source": source, "started": time.time(),
                                     "finished": time.time(), "reason": "previous run still going"})
            return None
        if job.running and job.overlap == "queue":
            if job.queue is None:
                job.queue = asyncio.Queue()
            job.queue.put_nowait((data, source))
            return rid
        self._start(job, data, source)
        return rid

    def _start(self, job: Job, data: dict[str, Any], source: str) -> None:
        job.running += 1
        task = asyncio.get_running_loop().create_task(self._run(job, data, source))
        job.runs.add(task)
        self.inflight.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            job.runs.discard(t)
            self.inflight.discard(t)
        task.add_done_callback(done)

    async def _run(self, job: Job, data: dict[str, Any], source: str, attempt: int = 1) -> None:
        rid = data["run_id"]
        rec: dict[str, Any] = {"run_id": rid, "status": "running", "source": source, "started": time.time(),
                               "attempt": attempt}
        try:
            if job.jitter:
                await asyncio.sleep(random.uniform(0, job.jitter))
            self.events.emit("schedule.fired", {"job": job.name, "run_id": rid, "source": source}, job.name)
            t0 = time.perf_counter()
            usage_before = job.owner.usage_total()
            try:
                out = await self._invoke(job, data)
                rec.update(status="completed", output=summarize(out))
            except asyncio.CancelledError:
                rec.update(
                    status="cancelled", error={"code": int(Code.SYSTEM_TIMEOUT), "message": "stopped by shutdown"}
                )
                raise
            except LLMSpellError as e:
                rec.update(status="failed", error={"code": e.code, "type": e.type, "message": e.message,
                                                   "source": e.source})
            except Exception as e:   # a bug in a job must not take the daemon down
                rec.update(
                    status="failed",
                    error={"code": int(Code.SYSTEM_INTERNAL_ERROR), "message": f"{type(e).__name__}: {e}"},
                )
            finally:
                rec["finished"] = time.time()
                rec["duration_ms"] = round((time.perf_counter() - t0) * 1000, 3)
                used = job.owner.usage_total()
                rec["usage"] = {"tokens": used.total_tokens - usage_before.total_tokens,
                                "cost": round(used.cost - usage_before.cost, 8)}
                self._record(job, rec)
        finally:
            job.running -= 1
            if job.queue is not None and not job.queue.empty() and not self.stopping:
                nxt, src = job.queue.get_nowait()
                self._start(job, nxt, src)
        if rec["status"] == "failed" and job.restart and not self.stopping:
            await asyncio.sleep(min(1.0, 0.1 * 2 ** (attempt - 1)))    # restart within 1 s, backing off
            if not self.stopping and self.is_current(job):
                job.running += 1
                await self._run(job, {**data, "run_id": uuid.uuid4().hex[:12]}, "restart", attempt + 1)

    def _record(self, job: Job, rec: dict[str, Any]) -> None:
        job.last = {k: rec.get(k) for k in ("run_id", "status", "started", "finished", "duration_ms")}
        self.history.record(job.name, rec)

    async def _invoke(self, job: Job, data: dict[str, Any]) -> Any:
        run, spec = job.owner, job.spec
        engine = run.engine
        run.deadline = time.monotonic() + job.timeout      # CPU loops in Lua stop at the job's limit
        try:
            coro: Any
            if isinstance(spec.get("run"), ScriptFunction):
                coro = spec["run"](data)
            elif isinstance(spec.get("workflow"), Workflow):
                coro = spec["workflow"].execute(run, spec.get("input", data))
            elif isinstance(spec.get("agent"), Agent):
                inp = spec.get("input")
                if isinstance(inp, ScriptFunction):
                    inp = await inp(data)
                coro = spec["agent"].execute(run, {"input": inp if inp is not None else data.get("body", data)})
            else:
                raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"job {job.name!r} has nothing to run")
            try:
                return await asyncio.wait_for(coro, job.timeout)
            except (asyncio.TimeoutError, TimeoutError):
                raise LLMSpellError(
                    Code.SCRIPT_EXECUTION_TIMEOUT, f"job {job.name!r} exceeded its {job.timeout:g}s time limit"
                ) from None
        finally:
            run.deadline = float("inf")
            if hasattr(engine, "reset_limit"):
                engine.reset_limit()

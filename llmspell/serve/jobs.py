"""Scheduler jobs under `llmspell serve`: what a job is and how one firing runs.

Each firing is its own run (run id, time limit, record). A job that errors,
hangs past its timeout, spins in a loop or exhausts its runtime's memory is
stopped and recorded; nothing else is affected. The time limit belongs to the
firing, not to the spell: jobs of one resident spell share its engine, and
each firing's limit travels with its own asyncio task (`llmspell.deadline`).

Work a job accepts is bounded (`max_queue` firings waiting beyond the running
one; more are refused, and a sender is told when to retry) and never dropped
unrecorded: every accepted firing ends in the history as completed, failed,
skipped or cancelled — also when the daemon stops before its turn comes.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..boundary import ScriptFunction
from ..config import redact
from ..core.agents import Agent
from ..core.events import EventBus
from ..core.workflows import Workflow
from ..deadline import Deadline
from ..deadline import current as current_limit
from ..errors import Code, LLMSpellError
from ..units import parse_duration

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
    max_queue: int = 100            # firings waiting (queue) or running beside the first (allow)
    running: int = 0
    queue: deque[tuple[dict[str, Any], str]] = field(default_factory=deque)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)     # trigger loops
    runs: set[asyncio.Task[Any]] = field(default_factory=set)        # firings in flight
    last: dict[str, Any] | None = None
    next_fire: float | None = None
    avg_duration: float | None = None   # seconds, recent runs (the Retry-After estimate)

    @classmethod
    def from_spec(cls, run: "SpellRun", spec: dict[str, Any], default_timeout: float,
                  default_max_queue: int = 100) -> "Job":
        """`spec` was checked by `Scheduler.register`; durations may be numbers or '90s'."""
        trig = dict(spec["trigger"])
        missed = spec.get("missed", trig.get("missed", "skip"))
        if missed not in ("skip", "run_once"):
            raise LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"Scheduler.register({spec['name']!r}): missed must be 'skip' or 'run_once'",
            )
        timeout = parse_duration(spec["timeout"]) if spec.get("timeout") is not None else default_timeout
        jitter = parse_duration(spec["jitter"]) if spec.get("jitter") is not None else 0.0
        max_queue = int(spec["max_queue"]) if spec.get("max_queue") is not None else default_max_queue
        return cls(spec["name"], spec, run, trig, spec.get("overlap", "skip"), timeout, missed, jitter,
                   bool(spec.get("restart", False)), max_queue)

    def kind(self) -> str:
        return next(k for k in ("cron", "every", "event", "webhook", "watch", "start") if k in self.trigger)

    def every(self) -> float:
        """Seconds between firings of an `every` job."""
        return parse_duration(self.trigger["every"])

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "spell": self.owner.display, "trigger": _plain(self.trigger),
                "overlap": self.overlap, "timeout": self.timeout, "running": self.running,
                "queued": len(self.queue), "max_queue": self.max_queue,
                "next_run": self.next_fire, "last_run": self.last,
                "description": self.spec.get("description")}

    def retry_after(self) -> int:
        """Whole seconds until a place in the queue is likely free: about one run."""
        return max(1, min(math.ceil(self.avg_duration or 1.0), math.ceil(self.timeout)))


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}


@dataclass
class Fired:
    """What became of one firing: `started`, `queued`, `skipped` (overlap = "skip"
    and a run is going, or the daemon is stopping) or `rejected` (the job's
    queue is full; `retry_after` seconds is a fair wait)."""
    job: str
    run_id: str
    status: str
    reason: str | None = None
    retry_after: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ("started", "queued")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"job": self.job, "run_id": self.run_id, "status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.retry_after is not None:
            d["retry_after"] = self.retry_after
        return d


_REMOTE = ("webhook", "manual")     # a sender is told the outcome; nothing to record when refused


class JobRunner:
    """Fires jobs: overlap policy and queue bound, jitter, per-firing limit,
    history, restarts, and the end of accepted work at shutdown.

    It owns the firings in flight (`inflight`) and the queued ones, and the
    `stopping` switch; `is_current(job)` tells whether a job is still the live
    one of its name (a restart of a replaced job does not happen)."""

    def __init__(self, events: EventBus, history: "JobHistory", is_current: Callable[[Job], bool]) -> None:
        self.events = events
        self.history = history
        self.is_current = is_current
        self.inflight: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.closed = False             # grace is over: queued firings no longer start
        self.grace_end = math.inf       # time.monotonic()
        self._limits: set[Deadline] = set()     # of the firings running now
        self._cut: set[Deadline] = set()        # limits shortened by shutdown
        self._queued: set[Job] = set()                   # jobs that have queued firings
        self._began: set[asyncio.Task[Any]] = set()      # firing tasks whose `_run` has begun

    def fire(self, job: Job, trigger: dict[str, Any], source: str) -> Fired:
        """Start a firing (or queue, skip or refuse it, by the overlap policy and the queue bound)."""
        rid = uuid.uuid4().hex[:12]
        if self.stopping:
            return self._skip(job, rid, source, "the daemon is stopping")
        data = {**trigger, "job": job.name, "source": source, "run_id": rid, "fired_at": time.time()}
        if job.running and job.overlap == "skip":
            return self._skip(job, rid, source, "previous run still going (overlap = \"skip\")")
        if job.running and job.overlap == "queue":
            if len(job.queue) >= job.max_queue:
                return self._refuse(job, rid, source, f"{len(job.queue)} firing(s) already queued (max_queue)")
            job.queue.append((data, source))
            self._queued.add(job)
            return Fired(job.name, rid, "queued")
        if job.running and job.overlap == "allow" and job.running > job.max_queue:
            return self._refuse(job, rid, source, f"{job.running} run(s) already going (max_queue + 1)")
        self._start(job, data, source)
        return Fired(job.name, rid, "started")

    def _skip(self, job: Job, rid: str, source: str, reason: str) -> Fired:
        now = time.time()
        self._record(job, {"run_id": rid, "status": "skipped", "source": source, "started": now,
                           "finished": now, "reason": reason})
        return Fired(job.name, rid, "skipped", reason)

    def _refuse(self, job: Job, rid: str, source: str, reason: str) -> Fired:
        """A full queue: a sender (webhook, manual) is told to retry later and nothing
        is recorded (a flood must not push real runs out of the history); a trigger of
        the daemon's own (cron, every, event, watch) is recorded as skipped."""
        if source not in _REMOTE:
            return self._skip(job, rid, source, reason)
        self.history.refused(job.name)
        return Fired(job.name, rid, "rejected", reason, job.retry_after())

    def _start(self, job: Job, data: dict[str, Any], source: str) -> None:
        job.running += 1
        task = asyncio.get_running_loop().create_task(self._run(job, data, source))
        job.runs.add(task)
        self.inflight.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            job.runs.discard(t)
            self.inflight.discard(t)
            if t.cancelled() and t not in self._began:      # cancelled before `_run` began: record it here
                job.running -= 1
                self._record_not_run(job, data, source)
            self._began.discard(t)
        task.add_done_callback(done)

    def _next(self, job: Job) -> None:
        """Start the next queued firing of `job` (also while stopping, until grace is over)."""
        if job.queue and not self.closed:
            nxt, src = job.queue.popleft()
            self._start(job, nxt, src)
        if not job.queue:
            self._queued.discard(job)

    async def _run(self, job: Job, data: dict[str, Any], source: str, attempt: int = 1) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._began.add(task)
        rid = data["run_id"]
        rec: dict[str, Any] = {"run_id": rid, "status": "running", "source": source, "started": time.time(),
                               "attempt": attempt}
        t0 = time.perf_counter()
        usage_before = job.owner.usage_total()
        limit = Deadline(math.inf, f"job {job.name!r} exceeded its {job.timeout:g}s time limit")
        token = None
        try:
            try:
                if job.jitter:
                    await asyncio.sleep(random.uniform(0, job.jitter))
                # This firing's own limit, seen by the engine's time check in this task and
                # in the tasks it starts (Async branches, deliveries of the events it emits,
                # schedule.fired included); never the spell's: other jobs run beside it.
                limit.at = time.monotonic() + job.timeout
                self.hold(limit)
                token = current_limit.set(limit)
                self.events.emit("schedule.fired", {"job": job.name, "run_id": rid, "source": source}, job.name)
                out = await self._invoke(job, data, limit)
                rec.update(status="completed", output=summarize(redact(out)))
            except asyncio.CancelledError:
                rec.update(
                    status="cancelled", error={"code": int(Code.SYSTEM_TIMEOUT), "message": "stopped by shutdown"}
                )
                raise
            except LLMSpellError as e:
                if limit in self._cut and e.code == Code.SCRIPT_EXECUTION_TIMEOUT:
                    rec.update(status="cancelled", error={"code": int(Code.SYSTEM_TIMEOUT), "message": e.message})
                else:
                    rec.update(status="failed", error={"code": e.code, "type": e.type, "message": e.message,
                                                       "source": e.source})
            except Exception as e:   # a bug in a job must not take the daemon down
                rec.update(
                    status="failed",
                    error={"code": int(Code.SYSTEM_INTERNAL_ERROR), "message": f"{type(e).__name__}: {e}"},
                )
            finally:
                rec["finished"] = time.time()
                secs = time.perf_counter() - t0
                rec["duration_ms"] = round(secs * 1000, 3)
                job.avg_duration = secs if job.avg_duration is None else 0.7 * job.avg_duration + 0.3 * secs
                used = job.owner.usage_total()
                rec["usage"] = {"tokens": used.total_tokens - usage_before.total_tokens,
                                "cost": round(used.cost - usage_before.cost, 8)}
                self._record(job, rec)
        finally:
            if token is not None:
                current_limit.reset(token)
            self.release(limit)
            job.running -= 1
            self._next(job)
        if rec["status"] == "failed" and job.restart and not self.stopping:
            await asyncio.sleep(min(1.0, 0.1 * 2 ** (attempt - 1)))    # restart within 1 s, backing off
            if not self.stopping and self.is_current(job):
                job.running += 1
                await self._run(job, {**data, "run_id": uuid.uuid4().hex[:12]}, "restart", attempt + 1)

    def _record(self, job: Job, rec: dict[str, Any]) -> None:
        job.last = {k: rec.get(k) for k in ("run_id", "status", "started", "finished", "duration_ms")}
        self.history.record(job.name, rec)

    async def _invoke(self, job: Job, data: dict[str, Any], limit: Deadline) -> Any:
        run, spec = job.owner, job.spec
        engine = run.engine

        async def call() -> Any:
            if isinstance(spec.get("run"), ScriptFunction):
                return await spec["run"](data)
            if isinstance(spec.get("workflow"), Workflow):
                return await spec["workflow"].execute(run, spec.get("input", data))
            if isinstance(spec.get("agent"), Agent):
                inp = spec.get("input")
                if isinstance(inp, ScriptFunction):
                    inp = await inp(data)
                return await spec["agent"].execute(run, {"input": inp if inp is not None else data.get("body", data)})
            raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"job {job.name!r} has nothing to run")

        if hasattr(engine, "reset_limit"):
            engine.reset_limit()        # an expiry latched by another firing is not this one's
        try:
            # asyncio.timeout runs in this task: a CPU loop the engine stops unwinds
            # straight to the finally below, before any other firing gets a turn
            async with asyncio.timeout(job.timeout):
                return await call()
        except TimeoutError:
            raise LLMSpellError(Code.SCRIPT_EXECUTION_TIMEOUT, limit.message) from None
        finally:
            if hasattr(engine, "reset_limit"):
                engine.reset_limit()

    # -- shutdown ------------------------------------------------------------------
    def hold(self, limit: Deadline) -> None:
        """A limit of work running now (a firing, a spell loading): shutdown moves it
        to the end of grace, so even a CPU loop under it stops then."""
        self._limits.add(limit)
        if self.stopping:
            self._cut_limit(limit)

    def release(self, limit: Deadline) -> None:
        self._limits.discard(limit)
        self._cut.discard(limit)

    def begin_stop(self, grace: float) -> None:
        """Take no more firings; the running ones' limits end within `grace`.

        Called from the signal handler, which Python runs between bytecodes of the
        main thread — also while a job spins in Lua (the engine's time check is
        Python) — so it only assigns: the spinning firing then stops at the end of
        grace and the event loop gets SIGTERM's turn."""
        if self.stopping:
            return
        self.grace_end = time.monotonic() + grace
        self.stopping = True
        for lim in list(self._limits):
            self._cut_limit(lim)

    def _cut_limit(self, lim: Deadline) -> None:
        if lim.at > self.grace_end:
            lim.at = self.grace_end
            lim.message = "stopped by shutdown: the run did not end within [serve] grace"
            self._cut.add(lim)

    def pending(self) -> tuple[int, int]:
        """(firings running, firings queued)."""
        return (sum(1 for t in self.inflight if not t.done()), sum(len(j.queue) for j in self._queued))

    async def finish(self) -> None:
        """After `begin_stop`: let the running and queued firings finish until grace
        ends, then cancel what still runs and record every queued firing left as
        cancelled. Every accepted firing ends recorded."""
        while True:
            running = [t for t in self.inflight if not t.done()]
            left = self.grace_end - time.monotonic()
            if not running or left <= 0:
                break
            await asyncio.wait(running, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        self.closed = True
        still = [t for t in self.inflight if not t.done()]
        for t in still:
            t.cancel()
        if still:
            await asyncio.wait(still, timeout=2)
        for job in list(self._queued):
            while job.queue:
                self._record_not_run(job, *job.queue.popleft())
        self._queued.clear()

    def _record_not_run(self, job: Job, data: dict[str, Any], source: str) -> None:
        now = time.time()
        self._record(job, {"run_id": data["run_id"], "status": "cancelled", "source": source,
                           "started": now, "finished": now,
                           "error": {"code": int(Code.SYSTEM_TIMEOUT),
                                     "message": "not run: the daemon stopped before its turn came"}})

"""Workflows: sequential, parallel, conditional, loop and map_reduce over steps.

A step runs exactly one of tool / agent / workflow / run. Each execution has a
run id; with `checkpoint = true` every finished step's output is stored, and a
later execution with the same run id skips what already finished. Every
execution (checkpointed or not) leaves a run record for `llmspell runs`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..boundary import LazyView, ScriptFunction
from ..errors import Code, LLMSpellError, StorageError
from .concurrency import gather_or_cancel
from .hooks import HookOutcome
from .resilience import backoff_delay
from .templates import render

if TYPE_CHECKING:
    from .context import RunContext

STEP_KEYS = {"name", "tool", "agent", "workflow", "run", "input", "output", "when", "retry", "timeout",
             "on_error", "fallback", "description"}


def _bad(wf: str, msg: str) -> LLMSpellError:
    return LLMSpellError(Code.WORKFLOW_INVALID_DEFINITION, f"workflow '{wf}': {msg}")


@dataclass
class Step:
    name: str
    kind: str                  # tool | agent | workflow | run
    target: Any
    input: Any = None
    output: str | None = None
    when: Any = None
    attempts: int = 1
    backoff: float = 0.5
    timeout: float | None = None
    on_error: str | None = None
    fallback: "Step | None" = None

    @classmethod
    def parse(cls, spec: Any, wf: str, default_name: str) -> "Step":
        if isinstance(spec, Workflow):
            return cls(spec.name, "workflow", spec)
        if not isinstance(spec, dict):
            raise _bad(wf, f"step {default_name} must be a table or a workflow")
        name = str(spec.get("name") or default_name)
        unknown = sorted(set(spec) - STEP_KEYS)
        if unknown:
            raise _bad(wf, f"step '{name}' has unknown key(s) {', '.join(unknown)}")
        kinds = [k for k in ("tool", "agent", "workflow", "run") if spec.get(k) is not None]
        if len(kinds) != 1:
            raise _bad(wf, f"step '{name}' needs exactly one of tool, agent, workflow or run"
                       + (f" (has {', '.join(kinds)})" if kinds else ""))
        kind = kinds[0]
        target = spec[kind]
        if kind == "run" and not isinstance(target, ScriptFunction):
            raise _bad(wf, f"step '{name}': 'run' must be a function")
        if kind == "workflow" and not isinstance(target, Workflow):
            raise _bad(wf, f"step '{name}': 'workflow' must be a workflow object")
        retry = spec.get("retry") or {}
        if not isinstance(retry, dict):
            raise _bad(wf, f"step '{name}': 'retry' must be a table like {{ attempts = 3, backoff = 0.5 }}")
        on_error = spec.get("on_error")
        if on_error not in (None, "stop", "continue"):
            raise _bad(wf, f"step '{name}': on_error must be 'stop' or 'continue'")
        fb = spec.get("fallback")
        return cls(name, kind, target, spec.get("input"), spec.get("output"), spec.get("when"),
                   max(1, int(retry.get("attempts", 1))), float(retry.get("backoff", 0.5)),
                   float(spec["timeout"]) if spec.get("timeout") is not None else None, on_error,
                   cls.parse(fb, wf, name + ".fallback") if fb is not None else None)


@dataclass
class Execution:
    """One run of a workflow: its context, step records and checkpoint."""
    run_id: str
    workflow: "Workflow"
    input: Any
    run: "RunContext"
    checkpoint: bool
    done: dict[str, Any] = field(default_factory=dict)     # checkpointed outputs by step path
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    status: str = "running"
    running: set[str] = field(default_factory=set)

    def ctx(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {**self.outputs, "input": self.input, "steps": self.steps, "run_id": self.run_id}
        if extra:
            c.update(extra)
        return c

    def save(self, final: bool = False) -> None:
        rec = {"run_id": self.run_id, "workflow": self.workflow.name, "type": self.workflow.kind,
               "status": self.status, "started": self.started, "spell": self.run.display,
               "finished": time.time() if final else None, "checkpoint": self.checkpoint,
               "steps": self.records, "input": self.input if self.checkpoint else None,
               "done": self.done if self.checkpoint else {}}
        try:
            self.run.kv("workflows").set(self.run_id, rec)
        except StorageError as e:
            if self.checkpoint:
                raise
            self.run.events.emit("workflow.record_failed", {"run_id": self.run_id, "error": e.message})


class Workflow:
    def __init__(self, kind: str, spec: dict[str, Any], run: "RunContext") -> None:
        self.kind = kind
        self.name = str(spec.get("name") or run.next_name(kind))
        self.spec = spec
        self.owner = run
        self.on_error = spec.get("on_error", "stop")
        if self.on_error not in ("stop", "continue"):
            raise _bad(self.name, "on_error must be 'stop' or 'continue'")
        self.checkpoint = bool(spec.get("checkpoint", False))
        self.max_concurrency = int(spec.get("max_concurrency") or (8 if kind == "map_reduce" else
                                                                   1 if kind == "loop" else 0)) or None
        self.fail_fast = bool(spec.get("fail_fast", True))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._current: Execution | None = None
        self._cancelled = False
        w = self.name
        if kind in ("sequential", "parallel"):
            steps = spec.get("steps")
            if not isinstance(steps, list) or not steps:
                raise _bad(w, "'steps' must be a non-empty array")
            self.steps = [Step.parse(s, w, f"step_{i + 1}") for i, s in enumerate(steps)]
            names = [s.name for s in self.steps]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise _bad(w, f"step names must be unique; repeated: {', '.join(sorted(dup))}")
        elif kind == "conditional":
            if not isinstance(spec.get("condition"), ScriptFunction):
                raise _bad(w, "'condition' must be a function of the context")
            if spec.get("if_true") is None:
                raise _bad(w, "'if_true' (a step or workflow) is required")
            self.branches = {b: Step.parse(spec[b], w, b) for b in ("if_true", "if_false") if spec.get(b) is not None}
        elif kind == "loop":
            if spec.get("body") is None:
                raise _bad(w, "'body' (a step or workflow) is required")
            if spec.get("items") is None and not isinstance(spec.get("while"), ScriptFunction):
                raise _bad(w, "give 'items' (an array or template) or 'while' (a function)")
            self.body = Step.parse(spec["body"], w, "body")
            self.max_iterations = int(spec.get("max_iterations") or 100)
        elif kind == "map_reduce":
            if spec.get("map") is None or spec.get("items") is None:
                raise _bad(w, "'items' and 'map' are required")
            self.body = Step.parse(spec["map"], w, "map")
            if spec.get("reduce") is not None and not isinstance(spec.get("reduce"), ScriptFunction):
                raise _bad(w, "'reduce' must be a function")

    # -- public operations -------------------------------------------------------
    def status(self) -> dict[str, Any]:
        e = self._current
        if e is None:
            return {"name": self.name, "status": "idle"}
        return {"name": self.name, "status": e.status, "run_id": e.run_id, "running": sorted(e.running),
                "completed": sum(1 for r in e.records if r["status"] == "completed"),
                "failed": sum(1 for r in e.records if r["status"] == "failed")}

    def cancel(self) -> bool:
        if not self._tasks:
            return False
        self._cancelled = True
        for t in list(self._tasks):
            t.cancel()
        return True

    async def execute(self, run: "RunContext", input: Any = None, run_id: str | None = None) -> dict[str, Any]:
        resumed = None
        if run_id is None and self.checkpoint:
            run_id = run.take_resume(self.name)
        if run_id is not None:
            resumed = run.kv("workflows").get(run_id)
            if resumed is not None and resumed.get("workflow") != self.name:
                raise LLMSpellError(
                    Code.WORKFLOW_STATE_INVALID,
                    f"run {run_id} belongs to workflow '{resumed.get('workflow')}', " f"not '{self.name}'",
                )
            if resumed is not None and input is None:
                input = resumed.get("input")
        ex = Execution(run_id or uuid.uuid4().hex[:12], self, input, run, self.checkpoint)
        if resumed:
            ex.done = dict(resumed.get("done") or {})
            ex.started = resumed.get("started") or ex.started
        task = asyncio.ensure_future(self._execute(ex))
        self._tasks.add(task)
        self._cancelled = False
        try:
            return await task
        except asyncio.CancelledError:
            if not self._cancelled:
                raise                    # our caller is being cancelled: pass it on
            ex.status = "cancelled"
            ex.save(final=True)
            run.events.emit("workflow.failed", {"workflow": self.name, "run_id": ex.run_id, "cancelled": True},
                            self.name)
            raise LLMSpellError(
                Code.WORKFLOW_EXECUTION_FAILED,
                f"workflow '{self.name}' was cancelled (run {ex.run_id})",
                details={"run_id": ex.run_id},
            ) from None
        finally:
            self._tasks.discard(task)

    async def _execute(self, ex: Execution, attempt: int = 1) -> dict[str, Any]:
        hooks, bus = ex.run.hooks, ex.run.events
        self._current = ex
        t0 = time.perf_counter()
        o: HookOutcome | None = await hooks.fire("before_workflow_execution", "workflow", self.name, ex.run_id,
                                                 input=ex.input)
        if o is not None:
            if o.replaced:
                return self._result(ex, o.output, t0)
            ex.input = o.ctx["input"]
        bus.emit("workflow.started", {"workflow": self.name, "type": self.kind, "run_id": ex.run_id,
                                      "resumed": bool(ex.done)}, self.name)
        ex.save()
        try:
            output = await getattr(self, "_run_" + self.kind)(ex, "")
        except asyncio.CancelledError:
            raise
        except LLMSpellError as e:
            ex.status = "failed"
            ex.save(final=True)
            o = await hooks.fire("workflow_error", "workflow", self.name, ex.run_id, input=ex.input,
                                 error=e.to_dict(), attempt=attempt)
            if o is not None and o.retries(attempt):
                return await self._execute(ex, attempt + 1)
            if o is not None and o.replaced:
                return self._result(ex, o.output, t0)
            bus.emit("workflow.failed", {"workflow": self.name, "run_id": ex.run_id, "error": e.to_dict(),
                                         "duration_ms": _ms(t0)}, self.name)
            e.details.setdefault("run_id", ex.run_id)
            raise
        ex.status = "completed"
        result = self._result(ex, output, t0)
        o = await hooks.fire("after_workflow_execution", "workflow", self.name, ex.run_id, input=ex.input,
                             output=result)
        if o is not None:
            result = o.output if o.replaced else o.ctx["output"]
        ex.save(final=True)
        bus.emit("workflow.completed", {"workflow": self.name, "run_id": ex.run_id, "duration_ms": _ms(t0),
                                        "steps": len(ex.records)}, self.name)
        return result

    def _result(self, ex: Execution, output: Any, t0: float) -> dict[str, Any]:
        return {"status": ex.status if ex.status != "running" else "completed", "output": output,
                "outputs": dict(ex.outputs), "run_id": ex.run_id, "duration_ms": _ms(t0),
                "steps": [{k: v for k, v in r.items() if k in ("name", "status", "duration_ms", "error", "attempts")}
                          for r in ex.records],
                "errors": [r["error"] for r in ex.records if r.get("error")]}

    # -- one step ------------------------------------------------------------------
    async def _step(self, ex: Execution, step: Step, path: str, extra: dict[str, Any] | None = None,
                    on_error: str | None = None) -> Any:
        """Run a step with when/retry/timeout/fallback; returns its output (or None when skipped)."""
        hooks, bus = ex.run.hooks, ex.run.events
        key = f"{path}{step.name}"
        if key in ex.done:                           # finished before a crash: reuse its output
            out = ex.done[key]
            self._record(ex, step, key, "completed", 0.0, out, resumed=True)
            return out
        ctx = ex.ctx(extra)
        if step.when is not None:
            ok = await step.when(LazyView(ctx)) if isinstance(step.when, ScriptFunction) else bool(step.when)
            if not ok:
                self._record(ex, step, key, "skipped", 0.0, None)
                return None
        inp = await self._input(step, ctx)
        o = await hooks.fire("before_workflow_step", "workflow", step.name, ex.run_id, workflow=self.name, input=inp)
        if o is not None:
            if o.replaced:
                self._record(ex, step, key, "completed", 0.0, o.output)
                return o.output
            inp = o.ctx["input"]
        bus.emit("workflow.step.started", {"workflow": self.name, "step": key, "run_id": ex.run_id}, self.name)
        ex.running.add(key)
        t0 = time.perf_counter()
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    coro = self._invoke(ex, step, inp, ctx, key)
                    out = await (asyncio.wait_for(coro, step.timeout) if step.timeout else coro)
                    break
                except (asyncio.TimeoutError, TimeoutError):
                    err = LLMSpellError(Code.WORKFLOW_TIMEOUT, f"step '{key}' took longer than {step.timeout:g}s")
                except LLMSpellError as e:
                    err = e
                if attempt < step.attempts:
                    await asyncio.sleep(backoff_delay(attempt - 1, step.backoff, 30.0))
                    continue
                if step.fallback is not None:
                    out = await self._step(ex, step.fallback, path, extra)
                    break
                ms = _ms(t0)
                failure = LLMSpellError(
                    Code.WORKFLOW_STEP_FAILED,
                    f"workflow '{self.name}': step '{key}' failed: {err.message}",
                    details={"step": key, "cause": err.to_dict()},
                    source=err.source,
                )
                self._record(ex, step, key, "failed", ms, None, error=err.to_dict(), attempts=attempt)
                bus.emit("workflow.step.completed", {"workflow": self.name, "step": key, "status": "failed",
                                                     "duration_ms": ms, "error": err.message,
                                                     "run_id": ex.run_id}, self.name)
                if (on_error or step.on_error or self.on_error) == "continue":
                    return None
                raise failure
        except asyncio.CancelledError:
            self._record(ex, step, key, "cancelled", _ms(t0), None)
            raise
        finally:
            ex.running.discard(key)
        o = await hooks.fire("after_workflow_step", "workflow", step.name, ex.run_id, workflow=self.name,
                             input=inp, output=out)
        if o is not None:
            out = o.output if o.replaced else o.ctx["output"]
        ms = _ms(t0)
        self._record(ex, step, key, "completed", ms, out, attempts=attempt)
        bus.emit("workflow.step.completed", {"workflow": self.name, "step": key, "status": "completed",
                                             "duration_ms": ms, "run_id": ex.run_id}, self.name)
        return out

    async def _input(self, step: Step, ctx: dict[str, Any]) -> Any:
        raw = step.input
        if isinstance(raw, ScriptFunction):
            return await raw(LazyView(ctx))
        if raw is None:
            return ctx.get("item", ctx.get("input")) if step.kind != "tool" else {}
        return render(raw, ctx, step.name)

    async def _invoke(self, ex: Execution, step: Step, inp: Any, ctx: dict[str, Any], key: str) -> Any:
        run = ex.run
        if step.kind == "run":
            return await step.target(LazyView(ctx))
        if step.kind == "tool":
            return await run.tools.execute(step.target, inp, run, caller=f"workflow:{self.name}")
        if step.kind == "agent":
            agent = step.target
            if isinstance(agent, str):
                found = run.agents.get(agent)
                if found is None:
                    raise LLMSpellError(Code.AGENT_NOT_FOUND, f"step '{key}': unknown agent {agent!r}")
                agent = found
            payload = inp if isinstance(inp, dict) else {"input": inp}
            return (await agent.execute(run, payload))["output"]
        sub: Workflow = step.target
        child_id = f"{ex.run_id}.{key}"
        res = await sub.execute(run, inp, run_id=child_id if (ex.checkpoint or sub.checkpoint) else None)
        return res["output"]

    def _record(self, ex: Execution, step: Step, key: str, status: str, ms: float, out: Any, *,
                error: dict[str, Any] | None = None, attempts: int = 1, resumed: bool = False) -> None:
        rec: dict[str, Any] = {"name": key, "status": status, "duration_ms": ms, "attempts": attempts}
        if error:
            rec["error"] = error
        if resumed:
            rec["resumed"] = True
        ex.records.append(rec)
        if status == "completed":
            ex.steps[step.name] = {"output": out, "status": status}
            if step.output:
                ex.outputs[step.output] = out
            if ex.checkpoint and not resumed:
                ex.done[key] = out
                ex.save()
        elif status in ("failed", "skipped"):
            ex.steps[step.name] = {"output": None, "status": status}

    # -- the builders ---------------------------------------------------------------
    async def _run_sequential(self, ex: Execution, path: str) -> Any:
        out = None
        for step in self.steps:
            r = await self._step(ex, step, path)
            if ex.steps.get(step.name, {}).get("status") == "completed":
                out = r
        return out

    async def _bounded(self, ex: Execution, jobs: list[Any], limit: int | None) -> list[Any]:
        """Run coroutines with at most `limit` at once; with fail_fast the first
        failure cancels the rest (recorded as cancelled), and nothing is orphaned."""
        sem = asyncio.Semaphore(limit) if limit else None

        async def guarded(job: Any) -> Any:
            if sem is None:
                return await job
            async with sem:
                return await job
        if self.fail_fast:
            return await gather_or_cancel([guarded(j) for j in jobs])
        results = await asyncio.gather(*(guarded(j) for j in jobs), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return list(results)

    async def _run_parallel(self, ex: Execution, path: str) -> Any:
        outs = await self._bounded(ex, [self._step(ex, s, path) for s in self.steps], self.max_concurrency)
        by_key = {(s.output or s.name): o for s, o in zip(self.steps, outs)}
        agg = self.spec.get("aggregate")
        if isinstance(agg, ScriptFunction):
            return await agg(by_key)
        return by_key

    async def _run_conditional(self, ex: Execution, path: str) -> Any:
        cond = await self.spec["condition"](LazyView(ex.ctx()))
        branch = self.branches.get("if_true" if cond else "if_false")
        ex.records.append({"name": f"{path}condition", "status": "completed", "duration_ms": 0.0,
                           "attempts": 1, "value": bool(cond)})
        if branch is None:
            return None
        return await self._step(ex, branch, path)

    async def _items(self, ex: Execution) -> list[Any]:
        items = self.spec.get("items")
        if isinstance(items, ScriptFunction):
            items = await items(LazyView(ex.ctx()))
        else:
            items = render(items, ex.ctx(), self.name)
        if isinstance(items, dict) and not items:
            items = []
        if not isinstance(items, list):
            raise _bad(self.name, f"'items' must give an array, got {type(items).__name__}")
        return items

    async def _each(self, ex: Execution, items: list[Any], path: str) -> list[Any]:
        def job(i: int, item: Any) -> Any:
            st = Step(**{**self.body.__dict__, "name": f"{self.body.name}[{i}]"})
            return self._step(ex, st, path, {"item": item, "index": i})
        return await self._bounded(ex, [job(i, it) for i, it in enumerate(items, 1)], self.max_concurrency)

    async def _run_loop(self, ex: Execution, path: str) -> Any:
        if self.spec.get("items") is not None:
            items = await self._items(ex)
            if len(items) > self.max_iterations:
                raise _bad(self.name, f"{len(items)} items exceed max_iterations ({self.max_iterations})")
            return await self._each(ex, items, path)
        cond: ScriptFunction = self.spec["while"]
        outs: list[Any] = []
        for i in range(1, self.max_iterations + 1):
            c = ex.ctx({"index": i, "results": outs, "last": outs[-1] if outs else None})
            if not await cond(LazyView(c)):
                return outs
            st = Step(**{**self.body.__dict__, "name": f"{self.body.name}[{i}]"})
            outs.append(await self._step(ex, st, path, {"index": i, "item": i, "results": outs,
                                                        "last": outs[-1] if outs else None}))
        return outs

    async def _run_map_reduce(self, ex: Execution, path: str) -> Any:
        results = await self._each(ex, await self._items(ex), path)
        red = self.spec.get("reduce")
        if isinstance(red, ScriptFunction):
            return await red(results)
        return results


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)

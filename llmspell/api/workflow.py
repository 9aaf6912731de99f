"""`Workflow` builders and workflow objects."""

from __future__ import annotations

from typing import Any

from ..boundary import ObjectRef
from ..core.context import RunContext
from ..core.workflows import Workflow
from .registry import Options, api, method


def _make(run: RunContext, kind: str, spec: Options) -> ObjectRef:
    wf = Workflow(kind, spec, run)
    return ObjectRef("Workflow", wf, {"name": wf.name, "type": kind})


@api("Workflow.sequential")
def sequential(run: RunContext, spec: Options) -> ObjectRef:
    """Steps one after another: { name, steps = {...}, on_error = 'stop'|'continue', checkpoint }."""
    return _make(run, "sequential", spec)


@api("Workflow.parallel")
def parallel(run: RunContext, spec: Options) -> ObjectRef:
    """Steps at once: { steps, max_concurrency, fail_fast = true, aggregate = function(outputs) }."""
    return _make(run, "parallel", spec)


@api("Workflow.conditional")
def conditional(run: RunContext, spec: Options) -> ObjectRef:
    """{ condition = function(ctx), if_true = step_or_wf, if_false = step_or_wf }."""
    return _make(run, "conditional", spec)


@api("Workflow.loop")
def loop(run: RunContext, spec: Options) -> ObjectRef:
    """{ items = array|'{{template}}'|function, body = step_or_wf, max_iterations } or { while = fn, body }."""
    return _make(run, "loop", spec)


@api("Workflow.map_reduce")
def map_reduce(run: RunContext, spec: Options) -> ObjectRef:
    """{ items, map = step_or_wf, reduce = function(results), max_concurrency = 8 }."""
    return _make(run, "map_reduce", spec)


@method("Workflow", "execute")
async def execute(run: RunContext, wf: Workflow, input: Any = None, options: Options | None = None) -> dict[str, Any]:
    """Run it: { status, output, outputs, run_id, duration_ms, steps }. options.run_id resumes a checkpointed run."""
    return await wf.execute(run, input, (options or {}).get("run_id"))


@method("Workflow", "cancel")
def cancel(run: RunContext, wf: Workflow) -> bool:
    """Stop a running execution; it fails with error 3003 and its steps are recorded as cancelled."""
    return wf.cancel()


@method("Workflow", "status")
def status(run: RunContext, wf: Workflow) -> dict[str, Any]:
    """{ status, run_id, running = {...}, completed, failed } of the current or last execution."""
    return wf.status()

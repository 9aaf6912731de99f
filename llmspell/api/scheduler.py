"""`Scheduler`: registrations are validated and listed; `llmspell serve` fires them."""

from __future__ import annotations

from typing import Any

from ..boundary import ScriptFunction
from ..core.context import RunContext
from ..errors import Code, LLMSpellError
from .registry import Options, api

_TRIGGERS = ("cron", "every", "event", "webhook", "watch", "start")


@api("Scheduler.register")
def register(run: RunContext, spec: Options) -> str:
    """Register a job { name, trigger = { cron | every | event | webhook | watch }, run | workflow | agent }."""
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "Scheduler.register: 'name' is required")
    trig = spec.get("trigger")
    if not isinstance(trig, dict) or not any(k in trig for k in _TRIGGERS):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): 'trigger' needs one of {', '.join(_TRIGGERS)}"
        )
    if "cron" in trig:
        from ..core.cron import check_cron
        check_cron(str(trig["cron"]), name, trig.get("timezone") or trig.get("tz"))
    if "every" in trig and (not isinstance(trig["every"], (int, float)) or trig["every"] <= 0):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): 'every' must be a positive number of seconds"
        )
    if "webhook" in trig and not str(trig["webhook"]).startswith("/"):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): webhook path must start with '/'"
        )
    if not any(isinstance(spec.get(k), (ScriptFunction, dict)) or spec.get(k) is not None
               for k in ("run", "workflow", "agent")):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): give 'run', 'workflow' or 'agent'"
        )
    overlap = spec.get("overlap", "skip")
    if overlap not in ("skip", "queue", "allow"):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): overlap must be skip, queue or allow"
        )
    job = {"name": name, "trigger": {k: v for k, v in trig.items() if not isinstance(v, ScriptFunction)},
           "overlap": overlap}
    run.scheduler_jobs.append(job)
    if run.job_sink is not None:      # under `llmspell serve`: the daemon fires it
        run.job_sink(run, spec)
    return name


@api("Scheduler.list")
def list_(run: RunContext) -> list[dict[str, Any]]:
    return list(run.scheduler_jobs)

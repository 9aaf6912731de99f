"""`Scheduler`: registrations are validated and listed; `llmspell serve` fires them."""

from __future__ import annotations

import math
from typing import Any

from ..boundary import ScriptFunction
from ..core.context import RunContext
from ..errors import Code, LLMSpellError
from ..units import parse_duration
from .registry import Options, api

_TRIGGERS = ("cron", "every", "event", "webhook", "watch", "start")


@api("Scheduler.register")
def register(run: RunContext, spec: Options) -> str:
    """Register a job { name, trigger = { cron | every | event | webhook | watch }, run | workflow | agent }.

    Durations (`every`, `timeout`, `jitter`) are seconds or strings as in the config: "90s", "5m", "1h"."""
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
    if "every" in trig:
        _duration(name, "trigger.every", trig["every"], least=0.05)
    for key in ("timeout", "jitter"):
        if spec.get(key) is not None:
            _duration(name, key, spec[key], least=0.0 if key == "jitter" else 0.001)
    mq = spec.get("max_queue")
    if mq is not None and (isinstance(mq, bool) or not isinstance(mq, (int, float)) or mq < 0 or mq != int(mq)):
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR,
            f"Scheduler.register({name!r}): max_queue must be a whole number of 0 or more (got {_show(mq)})",
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


def _duration(name: str, key: str, value: Any, least: float) -> float:
    """A duration as the config writes them: 90, "90s", "5m", "1h", "250ms"."""
    try:
        secs = parse_duration(value)
    except ValueError as e:
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({name!r}): {key}: {e} (got {_show(value)})"
        ) from None
    if not math.isfinite(secs) or secs < least:
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR,
            f"Scheduler.register({name!r}): {key} must be " + (f"at least {least:g}s" if least else "0 or more")
            + f" (got {_show(value)})",
        )
    return secs


@api("Scheduler.list")
def list_(run: RunContext) -> list[dict[str, Any]]:
    return list(run.scheduler_jobs)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

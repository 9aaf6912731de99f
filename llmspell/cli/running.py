"""Running a spell from the command line — kept free of typer so `llmspell run`
starts fast (typer pulls in pydantic); `fast.py` and the typer `run` share it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .common import make_runtime
from .output import OPTS, emit_json


class Capture:
    """Collects a spell's printed lines (for --json)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, s: str) -> None:
        self.lines.append(s.rstrip("\n"))

    def flush(self) -> None:
        pass


async def _with_runtime(rt: Any, coro: Any) -> Any:
    try:
        return await coro
    finally:
        await rt.aclose()


def json_result(res: Any, output: list[str]) -> None:
    emit_json({"status": "ok", "run_id": res.run_id, "value": res.value,
               "duration_ms": round(res.duration_ms, 3), "output": output,
               "scheduler_jobs": res.scheduler_jobs, "usage": res.usage})


def usage_summary(rows: list[dict[str, Any]]) -> None:
    """After a run that used models: calls, tokens and cost per agent and model (stderr)."""
    if not rows or OPTS.json:
        return
    from rich.console import Console
    from rich.table import Table
    t = Table("agent", "model", "calls", "prompt", "completion", "cost ($)", title="model usage",
              title_justify="left", box=None, pad_edge=False)
    tot = [0, 0, 0, 0.0]
    for r in rows:
        t.add_row(r["agent"], r["model"], str(r["calls"]), str(r["prompt_tokens"]), str(r["completion_tokens"]),
                  f"{r['cost']:.6f}")
        tot = [tot[0] + r["calls"], tot[1] + r["prompt_tokens"], tot[2] + r["completion_tokens"], tot[3] + r["cost"]]
    if len(rows) > 1:
        t.add_row("total", "", str(tot[0]), str(tot[1]), str(tot[2]), f"{tot[3]:.6f}", style="bold")
    Console(stderr=True, highlight=False).print(t)


def notice_jobs(jobs: list[dict[str, Any]]) -> None:
    if jobs and not OPTS.json:
        names = ", ".join(j["name"] for j in jobs)
        sys.stderr.write(f"note: {len(jobs)} Scheduler job(s) registered ({names}); "
                         "they fire only under `llmspell serve`\n")


def _hard_deadline(rt: Any, display: str) -> Any:
    """End the process at the time limit plus a grace, whatever the spell is doing."""
    from ..errors import Code, SpellFailed
    from .watchdog import GRACE, HardDeadline
    from .output import fail
    limit = rt.config.settings.security.max_execution_time

    def expired() -> None:
        fail(SpellFailed(Code.SCRIPT_EXECUTION_TIMEOUT,
                         f"spell exceeded security.max_execution_time ({limit:g}s) and was stopped "
                         f"{GRACE:g}s later", source=display))
    return HardDeadline(limit, expired, debug=OPTS.debug)


def run_spell(spell: str, params: dict[str, Any], args: list[str], engine: str | None,
              resume: str | None = None) -> None:
    if not Path(spell).is_file():
        raise UsageError(f"spell file not found: {spell}")
    cap = Capture() if OPTS.json else None
    rt = make_runtime(stdout=cap)
    from .progress import attach
    attach(rt)
    run = rt.open_spell(spell, engine=engine, params=params, args=args, resume_id=resume)
    with _hard_deadline(rt, run.display):
        res = asyncio.run(_with_runtime(rt, run.execute()))
    if cap is not None:
        json_result(res, cap.lines)
    usage_summary(res.usage)
    notice_jobs(res.scheduler_jobs)


def exec_code(code: str, params: dict[str, Any], args: list[str], engine: str) -> Any:
    cap = Capture() if OPTS.json else None
    rt = make_runtime(stdout=cap)
    with _hard_deadline(rt, "exec"):
        res = asyncio.run(_with_runtime(rt, rt.arun_code(code, engine, params, args)))
    if cap is not None:
        json_result(res, cap.lines)
        return None
    return res.value

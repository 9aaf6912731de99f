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
               "scheduler_jobs": res.scheduler_jobs})


def notice_jobs(jobs: list[dict[str, Any]]) -> None:
    if jobs and not OPTS.json:
        names = ", ".join(j["name"] for j in jobs)
        sys.stderr.write(f"note: {len(jobs)} Scheduler job(s) registered ({names}); "
                         "they fire only under `llmspell serve`\n")


def run_spell(spell: str, params: dict[str, Any], args: list[str], engine: str | None) -> None:
    if not Path(spell).is_file():
        raise UsageError(f"spell file not found: {spell}")
    cap = Capture() if OPTS.json else None
    rt = make_runtime(stdout=cap)
    res = asyncio.run(_with_runtime(rt, rt.arun_file(spell, params, args, engine)))
    if cap is not None:
        json_result(res, cap.lines)
    notice_jobs(res.scheduler_jobs)


def exec_code(code: str, params: dict[str, Any], args: list[str], engine: str) -> Any:
    cap = Capture() if OPTS.json else None
    rt = make_runtime(stdout=cap)
    res = asyncio.run(_with_runtime(rt, rt.arun_code(code, engine, params, args)))
    if cap is not None:
        json_result(res, cap.lines)
        return None
    return res.value

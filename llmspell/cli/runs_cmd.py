"""`llmspell runs list|show`: workflow runs recorded in the project's storage."""

from __future__ import annotations

import time
from typing import Any

import typer

from ..errors import Code, LLMSpellError
from .common import open_runtime
from .output import OPTS, console, emit_json

app = typer.Typer(no_args_is_help=True)


def _records() -> list[dict[str, Any]]:
    with open_runtime() as rt:
        return [v for _, v in rt.kv("workflows").items() if isinstance(v, dict)]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


@app.command("list")
def list_(limit: int = typer.Option(20, "--limit", "-n")) -> None:
    """Recent workflow runs, newest first."""
    recs = sorted(_records(), key=lambda r: r.get("started") or 0, reverse=True)[:limit]
    rows = [{"run_id": r["run_id"], "workflow": r.get("workflow"), "status": r.get("status"),
             "started": r.get("started"), "finished": r.get("finished"), "spell": r.get("spell"),
             "steps": len(r.get("steps") or []), "checkpoint": r.get("checkpoint")} for r in recs]
    if OPTS.json:
        emit_json(rows)
        return
    from rich.table import Table
    t = Table("run id", "workflow", "status", "started", "steps", "spell", box=None, pad_edge=False)
    for r in rows:
        t.add_row(r["run_id"], str(r["workflow"]), str(r["status"]), _when(r["started"]), str(r["steps"]),
                  str(r["spell"]))
    console().print(t)


@app.command()
def show(run_id: str) -> None:
    """One run: its steps with status, timings and errors."""
    rec = next((r for r in _records() if r.get("run_id") == run_id), None)
    if rec is None:
        raise LLMSpellError(Code.WORKFLOW_NOT_FOUND, f"no workflow run {run_id!r}",
                            suggestions=["`llmspell runs list` shows runs"])
    if OPTS.json:
        emit_json({k: v for k, v in rec.items() if k != "done"})
        return
    c = console()
    dur = f"{(rec['finished'] - rec['started']):.3f}s" if rec.get("finished") and rec.get("started") else "-"
    c.print(f"[bold]{rec['workflow']}[/bold] ({rec.get('type')})  run {rec['run_id']}  {rec.get('status')}  "
            f"started {_when(rec.get('started'))}  took {dur}  spell {rec.get('spell')}")
    from rich.table import Table
    t = Table("step", "status", "ms", "attempts", "error", box=None, pad_edge=False)
    for s in rec.get("steps") or []:
        err = s.get("error") or {}
        t.add_row(s["name"], s["status"] + (" (resumed)" if s.get("resumed") else ""), f"{s.get('duration_ms', 0):.1f}",
                  str(s.get("attempts", 1)), f"[{err.get('code')}] {err.get('message')}" if err else "")
    c.print(t)

"""`llmspell serve` and `llmspell jobs …` (the latter talk to the running daemon)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import Code, LLMSpellError, UsageError
from .common import make_runtime
from .output import OPTS, console, emit_json, show_value


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        targets: Optional[List[str]] = typer.Argument(None, help="Spell files or folders (default: [serve] spells)."),
        host: Optional[str] = typer.Option(None, "--host"),
        port: Optional[int] = typer.Option(None, "--port", help="0 picks a free port."),
    ) -> None:
        """Run spells as a daemon: fire Scheduler jobs, serve webhooks, /health and /metrics."""
        from ..serve import Daemon
        overrides: dict[str, Any] = {}
        if host is not None:
            overrides["serve.host"] = host
        if port is not None:
            overrides["serve.port"] = port
        rt = make_runtime(overrides=overrides)
        chosen = list(targets or rt.config.settings.serve.spells or [])
        if not chosen:
            if Path("spells").is_dir():
                chosen = ["spells"]
            else:
                raise UsageError("give spell files or folders to serve (or set [serve] spells)")

        async def main() -> None:
            try:
                await Daemon(rt, chosen).run()
            finally:
                await rt.aclose()
        asyncio.run(main())


jobs_app = typer.Typer(no_args_is_help=True)


def _daemon() -> tuple[str, dict[str, str]]:
    from ..serve import state_file
    rt = make_runtime()
    p = state_file(rt)
    token = rt.config.settings.serve.token
    if not p.is_file():
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE, "no llmspell daemon is running for this project",
                            suggestions=["start one with `llmspell serve`"])
    st = json.loads(p.read_text())
    host = st["host"] if st["host"] not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{st['port']}", ({"Authorization": f"Bearer {token}"} if token else {})


def _call(method: str, path: str, body: Any = None) -> Any:
    import httpx
    base, headers = _daemon()
    try:
        r = httpx.request(method, base + path, headers=headers, json=body, timeout=30)
    except httpx.TransportError as e:
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE, f"cannot reach the daemon at {base}: {e}") from None
    data = r.json() if r.content else None
    if r.status_code >= 400:
        msg = data.get("error") if isinstance(data, dict) else r.text
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE if r.status_code >= 500 else 4002, f"daemon: {msg}")
    return data


@jobs_app.command("list")
def jobs_list() -> None:
    """Jobs of the running daemon: trigger, last run, next run."""
    rows = _call("GET", "/jobs")
    if OPTS.json:
        emit_json(rows)
        return
    import time as _t

    from rich.table import Table
    t = Table("job", "trigger", "overlap", "running", "last run", "next run", "spell", box=None, pad_edge=False)
    for j in rows:
        last = j.get("last_run") or {}
        nxt = j.get("next_run")
        t.add_row(j["name"], json.dumps(j["trigger"]), j["overlap"], str(j["running"]),
                  f"{last.get('status', '-')}" + (f" {_t.strftime('%H:%M:%S', _t.localtime(last['started']))}"
                                                  if last.get("started") else ""),
                  _t.strftime("%Y-%m-%d %H:%M:%S", _t.localtime(nxt)) if nxt else "-", j["spell"])
    console().print(t)


@jobs_app.command("history")
def jobs_history(name: str, limit: int = typer.Option(20, "--limit", "-n")) -> None:
    """Recent runs of a job, newest first."""
    rows = _call("GET", f"/jobs/{name}/history?limit={limit}")
    if OPTS.json:
        emit_json(rows)
        return
    import time as _t

    from rich.table import Table
    t = Table("run id", "status", "source", "started", "ms", "error / output", box=None, pad_edge=False)
    for r in rows:
        err = r.get("error") or {}
        t.add_row(r["run_id"], r["status"], r.get("source", ""), _t.strftime("%H:%M:%S", _t.localtime(r["started"])),
                  f"{r.get('duration_ms') or 0:.0f}",
                  f"[{err.get('code')}] {err.get('message')}" if err else json.dumps(r.get("output"))[:80])
    console().print(t)


@jobs_app.command("trigger")
def jobs_trigger(name: str, input: Optional[str] = typer.Option(None, "--input", "-i", help="JSON body")) -> None:
    """Fire a job now."""
    body = json.loads(input) if input else None
    res = _call("POST", f"/jobs/{name}/trigger", body)
    emit_json(res) if OPTS.json else show_value(f"{res['job']}: {res['status']} (run {res['run_id']})")

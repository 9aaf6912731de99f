"""`llmspell serve` and `llmspell jobs …` (the latter talk to the running daemon)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import Code, LLMSpellError, UsageError
from ..paths import display_path
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
    host, port = _read_state(p)
    return f"http://{host}:{port}", ({"Authorization": f"Bearer {token}"} if token else {})


def _read_state(p: Path) -> tuple[str, int]:
    """Host and port from the daemon's state file; a damaged or foreign one is a clear
    error, and the token is only ever sent to an address of this machine."""
    import os
    import socket
    shown = display_path(p)

    def bad(why: str) -> LLMSpellError:
        return LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE, f"{shown} is not a valid daemon state file: {why}",
                             suggestions=[f"if no daemon runs here, delete {shown}; (re)start `llmspell serve`"])
    try:
        st = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except ValueError:
        raise bad("not JSON") from None
    except OSError as e:
        raise bad(f"cannot read it ({e.strerror or e})") from None
    if not isinstance(st, dict):
        raise bad("not a JSON object")
    host, port, pid = st.get("host"), st.get("port"), st.get("pid")
    if not isinstance(host, str) or not host:
        raise bad("no 'host'")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise bad("no valid 'port'")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE,
                                f"no llmspell daemon is running for this project ({shown} is left from pid {pid})",
                                suggestions=["start one with `llmspell serve`"]) from None
        except OSError:
            pass        # alive, another user's
    if host in ("0.0.0.0", "::", "*"):
        host = "127.0.0.1"
    try:                # an address this machine can listen on is this machine
        family, _, _, _, addr = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((addr[0], 0))
    except (OSError, UnicodeError):
        raise bad(f"host {host[:80]!r} is not an address of this machine") from None
    return (f"[{addr[0]}]" if family == socket.AF_INET6 else addr[0]), port


def _call(method: str, path: str, body: Any = None) -> Any:
    import httpx
    base, headers = _daemon()
    try:
        r = httpx.request(method, base + path, headers=headers, json=body, timeout=30)
    except httpx.TransportError as e:
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE, f"cannot reach the daemon at {base}: {e}") from None
    try:
        data = r.json() if r.content else None
    except ValueError:
        data = None
    if r.status_code >= 400:
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            err = err.get("message")
        msg = f"daemon: {err or r.text.strip()[:200] or f'HTTP {r.status_code}'}"
        if r.status_code == 429:
            raise LLMSpellError(Code.SYSTEM_RATE_LIMIT_EXCEEDED, msg,
                                suggestions=[f"retry in {r.headers.get('Retry-After', '1')}s"])
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE if r.status_code >= 500 else Code.SCRIPT_RUNTIME_ERROR,
                            msg)
    if data is None and r.content:
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE, f"{base} did not answer like an llmspell daemon")
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
    try:
        body = json.loads(input) if input else None
    except ValueError as e:
        raise UsageError(f"--input is not JSON: {e}", suggestions=["e.g. --input '{\"n\": 7}'"]) from None
    res = _call("POST", f"/jobs/{name}/trigger", body)
    emit_json(res) if OPTS.json else show_value(f"{res['job']}: {res['status']} (run {res['run_id']})")

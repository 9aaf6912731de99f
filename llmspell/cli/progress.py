"""Workflow progress for `llmspell run`: a live view on a terminal, plain lines otherwise.

Both go to stderr, so a spell's own output on stdout stays clean for pipes.
"""

from __future__ import annotations

import sys
from typing import Any

from .output import OPTS


class Progress:
    def __init__(self, live: bool) -> None:
        self.live = live
        self.rows: dict[str, list[Any]] = {}
        self._live: Any = None

    def __call__(self, ev: dict[str, Any]) -> None:
        d = ev.get("data") or {}
        t = ev["type"]
        if t == "workflow.started":
            self._line(f"workflow {d['workflow']} started (run {d['run_id']})")
        elif t == "workflow.step.started":
            self.rows[f"{d['workflow']}/{d['step']}"] = ["running", None]
            self._refresh()
        elif t == "workflow.step.completed":
            self.rows[f"{d['workflow']}/{d['step']}"] = [d["status"], d.get("duration_ms")]
            extra = f": {d['error']}" if d.get("error") else ""
            self._line(f"  step {d['step']} {d['status']} ({d.get('duration_ms', 0):.0f} ms){extra}")
        elif t in ("workflow.completed", "workflow.failed"):
            state = "completed" if t == "workflow.completed" else "failed"
            self._line(f"workflow {d['workflow']} {state} ({d.get('duration_ms', 0) or 0:.0f} ms)")
            if self._live is not None and t == "workflow.completed":
                self._stop()

    def _line(self, text: str) -> None:
        if not self.live:
            sys.stderr.write(text + "\n")
        else:
            self._refresh()

    def _render(self) -> Any:
        from rich.table import Table
        t = Table("step", "status", "ms", box=None, pad_edge=False)
        for name, (status, ms) in list(self.rows.items())[-30:]:
            style = {"running": "yellow", "completed": "green", "failed": "red"}.get(status, "")
            t.add_row(name, f"[{style}]{status}[/{style}]" if style else status, f"{ms:.0f}" if ms else "")
        return t

    def _refresh(self) -> None:
        if not self.live:
            return
        if self._live is None:
            from rich.console import Console
            from rich.live import Live
            self._live = Live(self._render(), console=Console(stderr=True), transient=False,
                              refresh_per_second=8)
            self._live.start()
        else:
            self._live.update(self._render())

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class ModelSpinner:
    """A spinner on stderr while agents wait on a model (terminals only)."""

    def __init__(self) -> None:
        self.active = 0
        self.status: Any = None

    def __call__(self, ev: dict[str, Any]) -> None:
        t = ev["type"]
        if t == "agent.started":
            self.active += 1
        elif t in ("agent.completed", "agent.error"):
            self.active = max(0, self.active - 1)
        if self.active and self.status is None:
            from rich.console import Console
            self.status = Console(stderr=True).status(f"waiting on {ev.get('source') or 'the model'}…")
            self.status.start()
        elif not self.active and self.status is not None:
            self.status.stop()
            self.status = None


def attach(rt: Any) -> None:
    """Show workflow progress (and a spinner while models think) unless output is for machines."""
    if OPTS.json:
        return
    tty = sys.stdout.isatty() and sys.stderr.isatty()
    rt.events.subscribe("workflow.>", Progress(live=tty))
    if tty:
        rt.events.subscribe("agent.*", ModelSpinner())

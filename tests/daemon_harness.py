"""Running the real `llmspell serve` in tests: a daemon subprocess on a free port,
with an injected clock (tests/serve_clock.py), and helpers to read its answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

LAUNCHER = Path(__file__).resolve().parent / "serve_clock.py"


class Served:
    """`llmspell serve TARGETS` in `project`; with `clock` (an ISO time) the test-only
    launcher starts the same daemon with an injected clock that starts then."""

    def __init__(self, project: Path, targets: list[str], env: dict[str, str] | None = None,
                 toml: str = "", clock: str | None = None) -> None:
        (project / "llmspell.toml").write_text('[serve]\nport = 0\ngrace = "5s"\n' + toml)
        self.project = project
        e = dict(os.environ)
        e.update(env or {})
        cmd = [sys.executable, str(LAUNCHER), clock] if clock else [sys.executable, "-m", "llmspell", "serve"]
        self.proc = subprocess.Popen([*cmd, *targets], cwd=project,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        state = project / ".llmspell" / "serve.json"
        deadline = time.time() + 20
        while not state.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("daemon did not start: " + self.proc.stderr.read())
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{json.loads(state.read_text())['port']}"
        self.token: str | None = None

    def get(self, path: str, **kw: Any) -> Any:
        return httpx.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return httpx.post(self.url + path, timeout=10, **kw)

    def history(self, job: str) -> list[dict[str, Any]]:
        return self.get(f"/jobs/{job}/history?limit=200").json()

    def wait(self, cond: Any, timeout: float = 10.0) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("condition not met in time")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def done(hist: list[dict[str, Any]], status: str = "completed") -> list[dict[str, Any]]:
    return [r for r in hist if r["status"] == status]

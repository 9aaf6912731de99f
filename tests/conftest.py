"""Shared fixtures: a temp project, a runtime over real LevelDB, and the real CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmspell import Runtime


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder that is the working directory, with its own config."""
    (tmp_path / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\npath = ".llmspell/data"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".xdg"))
    return tmp_path


class Lua:
    """Runs Lua code in a fresh run of one runtime and captures printed lines."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.out = io.StringIO()
        rt.stdout = self.out

    def __call__(self, code: str, **kw: Any) -> Any:
        return self.rt.run(code, "lua", **kw)

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


@pytest.fixture
def rt(project: Path) -> Any:
    r = Runtime(cwd=project)
    yield r
    r.close()


@pytest.fixture
def lua(rt: Runtime) -> Lua:
    return Lua(rt)


def make_rt(project: Path, toml: str) -> Runtime:
    (project / "llmspell.toml").write_text(toml)
    return Runtime(cwd=project)


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    e = dict(os.environ)
    e.pop("LLMSPELL_PROVIDERS__DEFAULT", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "llmspell", *args], cwd=cwd, env=e, input=input,
                          capture_output=True, text=True, timeout=timeout)

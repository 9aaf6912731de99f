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

REAL_HOME = os.path.expanduser("~")      # the developer's, before any test changes HOME


@pytest.fixture(scope="session")
def _shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One validated-config cache for the whole session: never the user's
    ~/.cache, yet CLI tests keep the start-up a user gets with a warm cache."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, _shared_cache: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every CLI or daemon subprocess it starts, since they copy
    os.environ) gets an empty home of its own: nothing reads the user's
    ~/.config/llmspell or writes ~/.cache/llmspell or ~/.llmspell_history, and no
    LLMSPELL_* variable from the developer's shell leaks in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_shared_cache))
    for k in [k for k in os.environ if k.startswith("LLMSPELL_")]:
        monkeypatch.delenv(k)
    return home


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
    """The real command line, as a user runs it (with the test's isolated home:
    the environment, monkeypatched HOME and XDG_* included, is passed on)."""
    e = dict(os.environ)
    e.pop("LLMSPELL_PROVIDERS__DEFAULT", None)
    e.update(env or {})
    assert e.get("HOME") != REAL_HOME and e.get("XDG_CACHE_HOME"), "cli() outside the isolated home"
    return subprocess.run([sys.executable, "-m", "llmspell", *args], cwd=cwd, env=e, input=input,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def _litellm_loaded() -> None:
    """litellm's first import takes seconds: do it before any test times a model call,
    whichever test runs first or alone."""
    from llmspell.providers.litellm_provider import load_litellm
    load_litellm()


@pytest.fixture
def server(_litellm_loaded: None) -> Any:
    """A local OpenAI-compatible server (litellm's real HTTP path runs against it)."""
    from llmspell.testing import FakeOpenAIServer
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def serve(project: Path) -> Any:
    """Start `llmspell serve` on spells written into the project; stopped after the test."""
    from tests.daemon_harness import Served
    started: list[Served] = []

    def start(spells: dict[str, str], **kw: Any) -> Served:
        for name, code in spells.items():
            (project / name).write_text(code)
        s = Served(project, list(spells), **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()

"""The suite never touches the developer's home: every test and every CLI
subprocess it starts sees a temporary HOME / XDG_* of its own (tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import REAL_HOME, cli


def test_each_test_has_its_own_home(_isolated_home):
    assert os.environ["HOME"] == str(_isolated_home) != REAL_HOME
    assert os.path.expanduser("~") == str(_isolated_home)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert not os.environ[var].startswith(REAL_HOME + os.sep), var
    assert not [k for k in os.environ if k.startswith("LLMSPELL_")]


def test_cli_writes_its_cache_and_history_into_the_isolated_home(project, _isolated_home):
    # a configuration no one else has, so its cache entry can be told apart even on a
    # machine where other processes use the real ~/.cache at the same time
    marker = str(project)                      # unique to this session
    (project / "llmspell.toml").write_text(f'[storage]\nbackend = "memory"\npath = "{marker}"\n')
    (project / "s.lua").write_text("print('hi')")
    assert cli("run", "s.lua", cwd=project).stdout == "hi\n"
    r = cli("repl", cwd=project, input=f"print('{marker}')\n")
    assert r.returncode == 0 and marker in r.stdout, r.stderr
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "llmspell" / "config"
    assert any(marker in f.read_text() for f in cache.rglob("*.json"))
    assert (_isolated_home / ".llmspell_history").exists()      # the console saved its history here
    real_cache = Path(REAL_HOME) / ".cache" / "llmspell" / "config"
    assert not any(marker in f.read_text() for f in real_cache.rglob("*.json"))

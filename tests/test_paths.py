"""llmspell.paths: display_path, the one way files are named to people."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import llmspell.paths
from llmspell.paths import display_path


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "s.lua").write_text("")
    (work / "sub" / "m.lua").write_text("")
    (tmp_path / "outside.lua").write_text("")
    monkeypatch.chdir(work)
    return work


def test_inside_the_working_directory_is_relative(cwd: Path) -> None:
    assert display_path("s.lua") == "s.lua"
    assert display_path("sub/m.lua") == os.path.join("sub", "m.lua")
    assert display_path("./sub/../s.lua") == "s.lua"
    assert display_path(str(cwd / "sub" / "m.lua")) == os.path.join("sub", "m.lua")
    assert display_path(cwd / "s.lua") == "s.lua"              # a Path works too


def test_outside_is_the_absolute_real_path(cwd: Path) -> None:
    outside = os.path.realpath(cwd.parent / "outside.lua")
    assert display_path("../outside.lua") == outside
    assert display_path(cwd.parent / "outside.lua") == outside
    assert display_path("/") == "/"


def test_symlinks_are_resolved_only_outside(cwd: Path) -> None:
    (cwd / "link").symlink_to(cwd.parent)
    assert display_path("link/outside.lua") == os.path.join("link", "outside.lua")   # inside: as given
    (cwd.parent / "alias").symlink_to(cwd.parent)
    assert display_path(cwd.parent / "alias" / "outside.lua") == os.path.realpath(cwd.parent / "outside.lua")


def test_the_file_need_not_exist(cwd: Path) -> None:
    assert display_path("missing.lua") == "missing.lua"
    assert display_path("../nowhere/x.lua") == os.path.realpath(cwd.parent / "nowhere" / "x.lua")


def test_paths_is_a_leaf_module() -> None:
    """display_path is used by the runtime, the engines and the daemon: paths.py
    must import nothing from llmspell."""
    tree = ast.parse(Path(llmspell.paths.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("llmspell"), ast.dump(node)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("llmspell") for a in node.names), ast.dump(node)

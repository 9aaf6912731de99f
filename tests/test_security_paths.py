"""File tools see only security.allowed_paths: a sibling folder whose name merely
starts like an allowed one, '..' traversal, symlinks and absolute paths that land
outside are all refused with 2006 (and nothing is read or written there)."""

from __future__ import annotations

import json
import os

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import Lua


def call(lua: Lua, name: str, inp: dict) -> object:
    return lua(f"return Tools.get('{name}'):execute(JSON.decode([==[{json.dumps(inp)}]==])).result")


def attempts(path: str, folder_too: bool) -> list[tuple[str, dict]]:
    """Every file tool, pointed at the file `path` and (when it is outside too) its folder."""
    out = [("file_reader", {"path": path}),
           ("file_metadata", {"path": path}),
           ("file_writer", {"path": path, "content": "overwritten"})]
    if folder_too:
        folder = os.path.dirname(path) or "."
        out += [("file_writer", {"path": os.path.join(folder, "planted.txt"), "content": "x"}),
                ("directory_lister", {"path": folder}),
                ("file_search", {"path": folder, "pattern": "secret"})]
    return out


def refused(lua: Lua, path: str, folder_too: bool = True) -> None:
    for name, inp in attempts(path, folder_too):
        with pytest.raises(SpellFailed) as ei:
            call(lua, name, inp)
        assert ei.value.code == 2006, (name, inp, ei.value)
        assert "outside security.allowed_paths" in ei.value.message


@pytest.fixture
def layout(project, tmp_path_factory):
    """project/ (cwd, config) with proj/ allowed; proj-evil/ beside it; a folder elsewhere."""
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nallowed_paths = ["./proj"]\n')
    (project / "proj").mkdir()
    (project / "proj" / "ok.txt").write_text("fine")
    (project / "proj" / "sub").mkdir()
    (project / "proj-evil").mkdir()
    (project / "proj-evil" / "secret.txt").write_text("secret")
    (project / "projects").mkdir()
    (project / "projects" / "secret.txt").write_text("secret")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("secret")
    (project / "proj" / "to-sibling").symlink_to(project / "proj-evil")
    (project / "proj" / "to-outside").symlink_to(outside)
    (project / "proj" / "secret-link.txt").symlink_to(project / "proj-evil" / "secret.txt")
    rt = Runtime(cwd=project)
    yield project, outside, Lua(rt)
    rt.close()
    for where in (project / "proj-evil", project / "projects", outside):     # nothing written outside
        assert (where / "secret.txt").read_text() == "secret" and not (where / "planted.txt").exists()


def test_allowed_folder_works(layout):
    project, _, lua = layout
    assert call(lua, "file_reader", {"path": "proj/ok.txt"}) == "fine"
    assert call(lua, "file_reader", {"path": str(project / "proj" / "ok.txt")}) == "fine"
    assert call(lua, "file_reader", {"path": "proj/./sub/../ok.txt"}) == "fine"   # '..' that stays inside
    call(lua, "file_writer", {"path": "proj/new.txt", "content": "mine"})
    assert (project / "proj" / "new.txt").read_text() == "mine"
    assert "ok.txt" in [e["name"] for e in call(lua, "directory_lister", {"path": "proj"})]


@pytest.mark.parametrize("path", ["proj-evil/secret.txt", "./proj-evil/secret.txt", "projects/secret.txt"],
                         ids=["sibling", "dot-sibling", "longer-name"])
def test_sibling_folder_sharing_the_prefix_is_refused(layout, path):
    project, _, lua = layout
    refused(lua, path)
    refused(lua, str(project / path))                    # the same as an absolute path


@pytest.mark.parametrize("path", ["proj/../proj-evil/secret.txt", "proj/../llmspell.toml",
                                  "proj/../../secret.txt", "../secret.txt"])
def test_dot_dot_traversal_is_refused(layout, path):
    refused(layout[2], path)


@pytest.mark.parametrize("path", ["proj/to-sibling/secret.txt", "proj/to-outside/secret.txt"])
def test_symlinked_folder_pointing_outside_is_refused(layout, path):
    refused(layout[2], path)


def test_symlinked_file_pointing_outside_is_refused(layout):
    refused(layout[2], "proj/secret-link.txt", folder_too=False)      # the link sits in an allowed folder


def test_absolute_path_outside_is_refused(layout):
    _, outside, lua = layout
    refused(lua, str(outside / "secret.txt"))
    refused(lua, "/etc/passwd")
    refused(lua, "~/secret.txt")


def test_sibling_of_the_working_directory(tmp_path, monkeypatch):
    """allowed_paths = ["."] from inside proj/: ../proj-evil is next door, not inside."""
    proj, evil = tmp_path / "proj", tmp_path / "proj-evil"
    proj.mkdir()
    evil.mkdir()
    (proj / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nallowed_paths = ["."]\n')
    (proj / "ok.txt").write_text("fine")
    (evil / "secret.txt").write_text("secret")
    monkeypatch.chdir(proj)
    rt = Runtime(cwd=proj)
    try:
        lua = Lua(rt)
        assert call(lua, "file_reader", {"path": "ok.txt"}) == "fine"
        refused(lua, "../proj-evil/secret.txt")
        refused(lua, str(evil / "secret.txt"))
    finally:
        rt.close()
    assert (evil / "secret.txt").read_text() == "secret" and not (evil / "planted.txt").exists()

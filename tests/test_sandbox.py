"""What a spell must not be able to do, and limits it cannot escape."""

from __future__ import annotations

import pytest

from llmspell import SpellFailed
from tests.conftest import make_rt


@pytest.mark.parametrize("code", [
    "return os.execute('echo hi')",
    "return io.open('/etc/passwd')",
    "return io.write('x')",
    "return python.eval('1')",
    "return debug.getinfo(1)",
    "return package.loadlib('x', 'y')",
    "return dofile('/etc/passwd')",
    "return loadfile('/etc/passwd')",
    "return os.getenv('HOME')",
    "return os.remove('x')",
    "return string.dump(print)",
    "return require('os')",
])
def test_host_access_is_absent(lua, code):
    with pytest.raises(SpellFailed) as ei:
        lua(code)
    assert ei.value.code in (4002, 4006)


def test_sandbox_globals_are_nil(lua):
    assert lua("return {type(os.execute), type(io), type(python), type(debug), type(package), "
               "type(dofile), type(loadfile), type(string.dump), type(os.exit)}") == ["nil"] * 9


def test_bytecode_cannot_be_loaded(lua):
    assert lua("local f, err = load('\\27Lua' .. string.rep('x', 20)); return err") == "load: binary chunks are not allowed"
    assert lua("local f, err = load('return 1', 'x', 'b'); return err").startswith("load: only text chunks")
    assert lua("return load('return 40 + 2')()") == 42


def test_loaded_chunks_stay_in_the_sandbox(lua):
    assert lua("return load('return type(os.execute)', 'x', 't', {type = type, os = {}})()") == "nil"
    assert lua("return load('return io')()") is None


def test_string_metatable_is_hidden(lua):
    assert lua("return getmetatable('')") is False
    # changing the sandbox's string table must not reach the real one
    assert lua("string.upper = nil; return ('abc'):upper()") == "ABC"


def test_gc_metamethods_are_refused(lua):
    with pytest.raises(SpellFailed, match="__gc"):
        lua("setmetatable({}, {__gc = function() while true do end end})")


def test_require_outside_the_spell_folder_is_refused(project, lua):
    (project / "sub").mkdir()
    (project / "secret.lua").write_text("return 'secret'")
    (project / "sub" / "main.lua").write_text("return require('../secret')")
    with pytest.raises(SpellFailed) as ei:
        lua.rt.run_file(project / "sub" / "main.lua")
    assert ei.value.code == 4006
    (project / "sub" / "abs.lua").write_text("return require('/etc/passwd')")
    with pytest.raises(SpellFailed):
        lua.rt.run_file(project / "sub" / "abs.lua")


def test_require_symlink_escape_is_refused(project, lua):
    (project / "sub").mkdir()
    (project / "outside.lua").write_text("return 'outside'")
    (project / "sub" / "link.lua").symlink_to(project / "outside.lua")
    (project / "sub" / "main.lua").write_text("return require('link')")
    with pytest.raises(SpellFailed, match="outside the spell's folder"):
        lua.rt.run_file(project / "sub" / "main.lua")


def test_modules_next_to_the_spell_are_sandboxed_too(project, lua):
    (project / "helpers.lua").write_text("local M = {}\nfunction M.twice(x) return x * 2 end\n"
                                         "M.has_os = os.execute ~= nil\nreturn M")
    (project / "main.lua").write_text("local h = require('helpers')\nreturn {h.twice(21), h.has_os, require('helpers') == h}")
    assert lua.rt.run_file(project / "main.lua") == [42, False, True]


def test_infinite_loop_hits_the_time_limit(project):
    rt = make_rt(project, '[security]\nmax_execution_time = "1s"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("while true do end")
    assert ei.value.code == 4004
    assert "max_execution_time" in ei.value.message


def test_pcall_cannot_swallow_the_time_limit(project):
    rt = make_rt(project, '[security]\nmax_execution_time = "1s"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("while true do pcall(function() while true do end end) end")
    assert ei.value.code == 4004
    with pytest.raises(SpellFailed):
        rt.run("while true do xpcall(function() while true do end end, function(e) return e end) end")


def test_time_limit_holds_inside_coroutines(project):
    rt = make_rt(project, '[security]\nmax_execution_time = "1s"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("local co = coroutine.create(function() while true do end end)\n"
               "while true do coroutine.resume(co) end")
    assert ei.value.code == 4004
    with pytest.raises(SpellFailed):
        rt.run("coroutine.wrap(function() while true do end end)()")


def test_time_limit_covers_waiting(project):
    rt = make_rt(project, '[security]\nmax_execution_time = "0.5s"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("Async.sleep(10)")
    assert ei.value.code == 4004


def test_memory_bomb_is_stopped(project):
    rt = make_rt(project, '[security]\nmax_memory = "32MB"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end")
    assert ei.value.code == 4005
    with pytest.raises(SpellFailed) as ei:
        rt.run("local ok, e = pcall(string.rep, 'x', 1e9); local t = {} while true do t[#t+1] = {} end")
    assert ei.value.code == 4005


def test_python_objects_expose_no_attributes(lua):
    # Whatever reaches a spell from Python is a Lua value, never a Python object.
    assert lua("local t = Tools.get('calculator'); return {type(t), type(t.execute)}") == ["table", "function"]

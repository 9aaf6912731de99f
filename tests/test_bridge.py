"""Value conversion, error tables, globals and require of llmspell modules."""

from __future__ import annotations

import pytest

from llmspell import SpellFailed


def test_nested_values_round_trip(lua):
    v = lua("return JSON.decode(JSON.encode({a = {1, 2, {b = 'x'}}, n = 1.5, i = 3, t = true}))")
    assert v == {"a": [1, 2, {"b": "x"}], "n": 1.5, "i": 3, "t": True}
    assert isinstance(v["i"], int) and isinstance(v["n"], float)


def test_integers_and_floats_stay_distinct(lua):
    assert lua("return {math.type(JSON.decode('2')), math.type(JSON.decode('2.5')), JSON.encode(3), JSON.encode(3.0)}") \
        == ["integer", "float", "3", "3.0"]


def test_arrays_versus_maps(lua):
    assert lua("return {1, 2, 3}") == [1, 2, 3]
    assert lua("return {[1] = 'a', [3] = 'c'}") == {"1": "a", "3": "c"}
    assert lua("return JSON.encode({x = {}})") == '{"x": {}}'


def test_nil_becomes_none_and_back(lua):
    assert lua("return Storage.get('absent')") is None
    assert lua("return Storage.get('absent', 'dflt')") == "dflt"


def test_cycles_give_a_clear_error(lua):
    with pytest.raises(SpellFailed, match="contains itself"):
        lua("local t = {}; t.self = t; Storage.set('k', t)")


def test_error_table_shape_and_tostring(lua):
    v = lua("""
      local ok, e = pcall(function() return Tools.get('calculator'):execute({}) end)
      return { ok = ok, code = e.code, type = e.type, category = e.category, s = tostring(e),
               recoverable = e.recoverable, has_suggestions = #e.suggestions > 0, source = e.source }
    """)
    assert v["ok"] is False and v["code"] == 2002 and v["type"] == "InvalidInput" and v["category"] == "tool"
    assert v["s"] == "[2002 InvalidInput] calculator: 'expression' is required"
    assert v["recoverable"] is False and v["has_suggestions"] and v["source"] == "exec:2"


def test_parse_error_turns_strings_into_tables(lua):
    v = lua("local ok, e = pcall(error, 'boom'); local p = ErrorHandler.parse_error(e)\n"
            "return {p.code, p.message, tostring(p)}")
    assert v == [4002, "boom", "[4002 RuntimeError] boom"]
    v = lua("local ok, e = pcall(function() error('bad thing') end)\nreturn ErrorHandler.parse_error(e)")
    assert v["message"] == "bad thing" and v["source"] == "exec:1"
    assert lua("local ok, e = pcall(Tools.get, 'x'); return ErrorHandler.parse_error(e).code") == 2001


def test_uncaught_error_names_file_and_line(project, rt):
    (project / "bad.lua").write_text("local x = 1\n\nerror('it broke')\n")
    with pytest.raises(SpellFailed) as ei:
        rt.run_file(project / "bad.lua")
    assert ei.value.located() == "bad.lua:3: [4002 RuntimeError] it broke"


def test_runtime_error_in_lua_names_line(project, rt):
    (project / "nil.lua").write_text("local t = nil\nreturn t.x\n")
    with pytest.raises(SpellFailed) as ei:
        rt.run_file(project / "nil.lua")
    assert ei.value.source == "nil.lua:2" and "attempt to index" in ei.value.message


def test_syntax_error_is_4001_with_line(project, rt):
    (project / "syn.lua").write_text("print('ok')\nlocal = 3\n")
    with pytest.raises(SpellFailed) as ei:
        rt.run_file(project / "syn.lua")
    assert ei.value.code == 4001 and ei.value.source == "syn.lua:2"


def test_api_argument_errors_name_the_parameter(lua):
    with pytest.raises(SpellFailed, match=r"Storage.set: 'key' must be string, got number 5"):
        lua("Storage.set(5, 'x')")
    with pytest.raises(SpellFailed, match="missing argument 'key'"):
        lua("Storage.set()")


def test_globals_and_require(lua):
    v = lua("""
      local L = require('llmspell')
      return { ENGINE, type(VERSION), L.Tools == Tools, require('llmspell.tools') == Tools,
               require('llmspell.storage') == Storage, require('llmspell.error_handler') == ErrorHandler,
               require('llmspell.json') == JSON, type(L.print), type(Agent.new), type(Workflow.sequential),
               type(Scheduler.register), type(Config.get), type(log) }
    """)
    assert v == ["lua", "string", True, True, True, True, True, "function", "function", "function",
                 "function", "function", "function"]


def test_params_and_args(lua):
    assert lua("return {params.n + 1, params.s, args[1], #args}", params={"n": 41, "s": "x"}, args=["a", "b"]) \
        == [42, "x", "a", 2]


def test_print_goes_to_the_runs_output(lua):
    lua("print('a', 1, nil, true, {1} ~= nil)")
    assert lua.lines == ["a\t1\tnil\ttrue\ttrue"]


def test_config_get_masks_secrets(project, monkeypatch):
    from tests.conftest import make_rt
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    rt = make_rt(project, '[providers.openai]\napi_key = "${MY_KEY}"\n')
    assert rt.run("return Config.get('providers.openai.api_key')") == "********"
    assert "sk-very-secret" not in str(rt.run("return Config.get('providers')"))
    assert rt.run("return Config.get('security.allowed_paths')") == ["."]


def test_unknown_engine_says_so(rt):
    from llmspell import LLMSpellError
    with pytest.raises(LLMSpellError) as ei:
        rt.run("1 + 1", engine="python")
    assert ei.value.code == 4007 and "unknown engine 'python'" in ei.value.message


def test_scheduler_registrations_are_listed_not_fired(lua):
    v = lua("Scheduler.register({name = 'daily', trigger = {cron = '0 8 * * *'}, run = function() error('no') end})\n"
            "return Scheduler.list()")
    assert v == [{"name": "daily", "trigger": {"cron": "0 8 * * *"}, "overlap": "skip"}]
    with pytest.raises(SpellFailed, match="invalid cron"):
        lua("Scheduler.register({name = 'bad', trigger = {cron = '99 * * * *'}, run = function() end})")


def test_log_writes_structured_lines(lua, caplog):
    import logging
    with caplog.at_level(logging.INFO, logger="llmspell"):
        lua("log('info', 'indexed', { files = 3 })\nlog('warn', 'slow disk')")
    recs = [(r.levelname, r.getMessage(), getattr(r, "fields", None)) for r in caplog.records
            if r.name == "llmspell.spell"]
    assert recs == [("INFO", "indexed", {"files": 3}), ("WARNING", "slow disk", {})]
    with pytest.raises(SpellFailed, match="unknown level"):
        lua("log('loud', 'x')")

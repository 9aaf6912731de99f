"""The Lua sandbox holds against the findings' escapes (E1, D1–D5, D13) and the
hard deadline ends `run`/`exec` whatever the spell does (item 2).

Each case runs the real CLI in a subprocess with a 2 s limit: a regression shows
as a failed assertion on exit code, error code and wall time, not a hung suite.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli

LIMIT = 2.0
GRACE = 1.0        # the hard deadline's grace (cli/watchdog.py)
SLACK = 2.5        # process start, runtime set-up, a loaded machine


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "llmspell.toml").write_text(f'[storage]\nbackend = "memory"\n'
                                           f'[security]\nmax_execution_time = "{LIMIT}s"\nmax_memory = "64MB"\n')
    return project


def run_lua(proj: Path, code: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (proj / "s.lua").write_text(code)
    t0 = time.perf_counter()
    r = cli(*extra, "run", "s.lua", cwd=proj, timeout=LIMIT + GRACE + 30)
    return r, time.perf_counter() - t0


def assert_stopped(r: subprocess.CompletedProcess[str], took: float, code: str = "4004", *,
                   cooperative: bool = True) -> None:
    """Stopped with `code` in time. `cooperative`: by the sandbox's own limit, not by
    the hard-deadline backstop (whose message says it stopped the spell late)."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"[{code} " in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert took < LIMIT + GRACE + SLACK, f"took {took:.1f}s"
    if cooperative:
        assert "and was stopped" not in r.stderr, "only the hard deadline stopped it: " + r.stderr


# -- E1: no host object, no shared metatable ------------------------------------

def test_sec_e1_failed_host_call_gives_a_plain_error_table(proj: Path) -> None:
    r, _ = run_lua(proj, r'''
local ok, e = pcall(print, "\xff")
print(ok, type(e), e.code, getmetatable(e))
local ok2, e2 = pcall(Async.sleep, "\xff")      -- the waiting path too
print(ok2, type(e2), e2.code)
local ok3, e3 = pcall(Storage.set, "k\xff", 1)
print(ok3, type(e3), e3.code)''')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "false\ttable\t4002\tfalse" and lines[1] == "false\ttable\t4002"
    assert lines[2] == "false\ttable\t4002"


def test_sec_e1_the_findings_metatable_trick_cannot_switch_the_limit_off(proj: Path) -> None:
    r, took = run_lua(proj, r'''
pcall(function()
  local _, e = pcall(print, "\xff"); local mt = getmetatable(e); local o = mt.__call
  mt.__call = function(f, ...) return false end
end)
while true do end''')
    assert_stopped(r, took)


@pytest.mark.parametrize("expr", ["Tools.get('calculator')", "ErrorHandler.parse_error('x')",
                                  "select(2, pcall(error, {code = 1}))", "Storage.namespace('n')",
                                  "Workflow.sequential({ steps = { { run = function() end } } })"])
def test_sec_e1_shared_metatables_are_locked(proj: Path, expr: str) -> None:
    r, _ = run_lua(proj, f"local o = {expr}\nprint(getmetatable(o))\n"
                         "print(pcall(setmetatable, o, {}))")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert first in ("false", "nil") and (second.startswith("false") or first == "nil")


# -- D1–D3: no code runs where the limit does not reach ----------------------------

def test_sec_d1_gc_through_an_object_metatable(proj: Path) -> None:
    r, took = run_lua(proj, '''
local ok = pcall(function()
  getmetatable(Tools.get("calculator")).__gc = function() while true do end end
end)
print("planted", ok)
for i = 1, 100 do Tools.get("calculator") end
collectgarbage()
while true do end''')
    assert_stopped(r, took)
    assert "planted\tfalse" in r.stdout


def test_sec_d2_load_with_a_reader_function(proj: Path) -> None:
    r, took = run_lua(proj, "while true do load(function() while true do end end) end")
    assert_stopped(r, took)


def test_sec_d2_load_reader_still_works(proj: Path) -> None:
    r, _ = run_lua(proj, '''
local parts = { "return ", "1 + ", "41" }
local i = 0
print(load(function() i = i + 1 return parts[i] end)())''')
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr


@pytest.mark.parametrize("code", [
    # the finding: a close handler's error replaces the limit's
    '''while true do pcall(function()
      local g <close> = setmetatable({}, {__close = function() error("x", 0) end}); while true do end end) end''',
    # a close handler that returns normally, in xpcall, in a coroutine
    '''while true do xpcall(function()
      local g <close> = setmetatable({}, {__close = function() end}); while true do end end, function() end) end''',
    '''while true do coroutine.resume(coroutine.create(function()
      local g <close> = setmetatable({}, {__close = function() error({}) end}); while true do end end)) end''',
])
def test_sec_d3_close_handlers_cannot_swallow_the_limit(proj: Path, code: str) -> None:
    r, took = run_lua(proj, code)
    assert_stopped(r, took)


# -- D4: one long C call: the hard deadline ---------------------------------------

@pytest.mark.parametrize("code", [
    'return string.find(string.rep("a", 20000), string.rep("a-", 12) .. "b")',
    'return string.match(string.rep("a", 20000), string.rep("a*", 12) .. "b")',
    'for w in string.gmatch(string.rep("a", 20000), string.rep("a-", 12) .. "b") do end',
    'return string.gsub(string.rep("a", 20000), string.rep("a-", 12) .. "b", "")',
])
def test_sec_d4_a_single_c_call_is_stopped_by_the_hard_deadline(proj: Path, code: str) -> None:
    r, took = run_lua(proj, 'print("started")\n' + code)
    assert_stopped(r, took, cooperative=False)
    assert r.stdout == "started\n"          # output written before the hang is kept


def test_sec_d4_exec_has_the_hard_deadline_too(proj: Path) -> None:
    t0 = time.perf_counter()
    r = cli("exec", 'return string.find(string.rep("a", 20000), string.rep("a-", 12) .. "b")', cwd=proj,
            timeout=LIMIT + GRACE + 30)
    assert_stopped(r, time.perf_counter() - t0, cooperative=False)


def test_sec_d4_json_output_on_the_hard_deadline(proj: Path) -> None:
    r, took = run_lua(proj, 'return string.find(string.rep("a", 20000), string.rep("a-", 12) .. "b")', "--json")
    assert r.returncode == 1 and took < LIMIT + GRACE + SLACK
    import json
    assert json.loads(r.stdout)["error"]["code"] == 4004


def test_sec_hard_deadline_when_the_gil_is_held(tmp_path: Path) -> None:
    """The last resort: a C computation that never lets the watchdog thread run."""
    script = ("from llmspell.cli.watchdog import HardDeadline\n"
              "with HardDeadline(0.5, lambda: print('watchdog')):\n"
              "    x = pow(7, 10**9)\n")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - t0
    assert r.returncode == 1 and took < 0.5 + GRACE + 2.0 + SLACK and "Traceback" not in r.stderr


# -- D5: the host never runs a spell's metamethods ---------------------------------

@pytest.mark.parametrize("call", [
    "Tools.get('calculator'):execute(T)",          # a waiting call
    "JSON.encode(T)",                              # a plain call
    "Storage.set('k', T)",
])
def test_sec_d5_host_reads_tables_raw(proj: Path, call: str) -> None:
    r, took = run_lua(proj, f'''
local T = setmetatable({{}}, {{ __index = function() while true do end end,
                              __pairs = function() while true do end end }})
local ok, e = pcall(function() return {call} end)
print("done", ok)''')
    assert r.returncode == 0 and r.stdout.startswith("done"), r.stderr
    assert took < LIMIT


# -- D13: a value larger than the room left is an error, never a PANIC ----------------

@pytest.mark.parametrize("code", [
    'local s = string.rep("x", 30e6) return JSON.decode(\'["\' .. s .. \'"]\')',
    'local s = string.rep("x", 20e6) return JSON.decode(\'["\' .. s .. \'", "\' .. s .. \'"]\')',
    'local t = {} for i = 1, 2e5 do t[i] = i end local s = JSON.encode(t) '
    'local r = {} for i = 1, 20 do r[i] = JSON.decode(s) end',
])
def test_sec_d13_oversized_results_fail_with_4005(proj: Path, code: str) -> None:
    r, took = run_lua(proj, code)
    assert r.returncode == 1, (r.returncode, r.stderr[-500:])
    assert "[4005 " in r.stderr and "PANIC" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-500:]


def test_sec_bom_at_the_start_of_a_spell(proj: Path) -> None:
    (proj / "bom.lua").write_bytes(b"\xef\xbb\xbfprint('hi')\n")
    r = cli("run", "bom.lua", cwd=proj)
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr


# -- JavaScript: values that cannot cross are named, not "host function failed" ----------

def test_sec_js_values_that_cannot_cross_are_clear_errors(proj: Path) -> None:
    (proj / "j.js").write_text(r'''
for (const v of ["\ud800", Symbol("s")]) {
  for (const f of [() => print(v), () => Async.sleep(v), () => JSON.encode({ a: v })]) {
    try { await f(); } catch (e) { console.log(e.code, e.message); }
  }
}
console.log("lone \ud800 surrogate in console output is replaced");''')
    r = cli("run", "j.js", cwd=proj)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "4002 print: cannot pass text that is not valid Unicode (a lone surrogate)"
    assert all(line.startswith("4002 ") and "cannot pass" in line for line in lines[1:3] + lines[4:6])
    assert "host function failed" not in r.stdout + r.stderr
    assert lines[-1] == "lone \ufffd surrogate in console output is replaced"


def test_sec_d13_many_small_tables_fail_with_4005_not_a_wedged_process(proj: Path) -> None:
    """Red-team variant of D13: 4.7 MB of JSON made of empty arrays is >100 MB of Lua
    tables. Each table must be counted, or lupa's unprotected write fails inside the
    host and leaves the process stuck."""
    r, took = run_lua(proj, '''
local inner = "[" .. string.rep("[],", 63) .. "[]]"
local mid   = "[" .. string.rep(inner .. ",", 63) .. inner .. "]"
local top   = "[" .. string.rep(mid .. ",", 63) .. mid .. "]"
local all   = "[" .. string.rep(top .. ",", 5) .. top .. "]"
top, inner, mid = nil, nil, nil; collectgarbage()
local ok, e = pcall(JSON.decode, all)
print(ok, e.code)''')
    assert r.returncode == 0 and r.stdout == "false\t4005\n", (r.returncode, r.stdout, r.stderr[-500:])
    assert took < LIMIT + SLACK


@pytest.mark.parametrize("args", ["1.5", "99999", "{}", "PRINT, 'FORGED'"])
def test_sec_a_spell_cannot_forge_the_drivers_wait(proj: Path, args: str) -> None:
    """The wait marker carries a per-runtime secret: a spell's own yield never reaches
    the host as an API call (no call past the wrappers, no raw Python error)."""
    from llmspell.api.catalog import default_registry
    idx = next(f.index for f in default_registry().functions if f.public == "print")
    r, _ = run_lua(proj, f'local PRINT = {idx}\nreturn coroutine.yield("\\0llmspell:wait", {args})\n')
    assert "FORGED" not in r.stdout, "a forged yield called print"
    assert "Traceback" not in r.stderr and "IndexError" not in r.stderr and "TypeError" not in r.stderr, r.stderr


def test_sec_table_keys_never_run_spell_code_on_the_host(proj: Path) -> None:
    r, _ = run_lua(proj, '''
local k = setmetatable({}, {__tostring = function() print("host ran __tostring") return "K" end})
local ok, e = pcall(JSON.encode, {[k] = 1})
print(ok, e.code)''')
    assert r.returncode == 0 and r.stdout == "false\t4002\n", r.stdout + r.stderr


def test_sec_methods_refuse_another_objects_handle(rt) -> None:
    """A method called on a handle of another class (only reachable through the
    host's call path) is refused, not run on the wrong object."""
    from llmspell.api.catalog import default_registry
    from llmspell.boundary import Handles
    from llmspell.bridge.dispatch import bind
    from llmspell.errors import LLMSpellError
    reg = default_registry()
    f = next(x for x in reg.functions if x.public == "Tool.execute")
    handles = Handles()
    h = handles.add(object())
    with pytest.raises(LLMSpellError, match="call it as a method of a Tool"):
        bind(f, [h, {}], None, handles, camel_case=False)  # type: ignore[arg-type]

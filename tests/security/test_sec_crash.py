"""D13b: Lua objects the host keeps must never point into a freed coroutine.

lupa ties each wrapper to the lua_State it was read from; inside a call from a
spell that is the calling coroutine, which Lua frees when it ends. A handler,
workflow step or tool function kept past the call then wrote into freed memory
when dropped (heap corruption, segfaults in the daemon during hot reload). The
stress loops below run in a subprocess with glibc's MALLOC_PERTURB_ (freed memory
overwritten), so a regression crashes the child instead of passing by luck.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STRESS = r'''
import asyncio, sys
from pathlib import Path
from llmspell import Runtime, LLMSpellError

rt = Runtime(cwd=Path("."))
for r in range(10):   # the minimal repro: handlers dropped by remove_owner after their coroutine died
    rt.run('Events.subscribe("e.*", function() end) for i = 1, 2000 do Events.emit("e.x", { i = i }) end')
for n in (500, 3000):
    rt.run(f"local items = {{}} for i = 1, {n} do items[i] = i end "
           f"assert(Workflow.map_reduce({{ name = 'm{n}', items = items, max_concurrency = 100, "
           f"map = {{ name = 'x', run = function(ctx) return ctx.item end }}, "
           f"reduce = function(rs) return #rs end }}):execute({{}}).output == {n})")
    steps = ", ".join(f"{{ name = 's{i}', run = function(ctx) return {i} end }}" for i in range(n // 10))
    rt.run(f"assert(Workflow.sequential({{ name = 'q{n}', steps = {{ {steps} }} }}):execute({{}}).output == {n // 10 - 1})")
    rt.run(f"for i = 1, {n} do Storage.set('k' .. i, i) end assert(#Storage.list('k') == {n})")
    rt.run(f"Events.subscribe('e.*', function(ev) end) for i = 1, {n} do Events.emit('e.x', {{ i = i }}) end")
rt.close()

# runtime churn: hooks, handlers, tool functions, coroutines, memory exhaustion, GC
for r in range(15):
    with Runtime(cwd=Path("."), overrides={"security.max_memory": "32MB"}) as rt2:
        rt2.run("""
          Hooks.register('before_tool_execution', function(ctx) return nil end)
          Events.subscribe('x.*', function(ev) collectgarbage() end)
          local t = Tools.create('echo', { execute = function(inp) return inp end })
          local rs = Async.all({ function() Async.sleep(0) return 1 end, function() return t:execute({ a = 1 }) end })
          for i = 1, 200 do Events.emit('x.y', { i = i, pad = string.rep('z', 100) }) end
          collectgarbage()
          return rs[1]
        """)
        try:
            rt2.run("local big = {} for i = 1, 1e7 do big[i] = { i } end")
        except LLMSpellError as e:
            assert e.code == 4005, e

# hot reload: a resident spell loaded, replaced by a broken version, then a fixed one
good = Path("resident.lua")
rt3 = Runtime(cwd=Path("."))
async def reloads():
    old = None
    for i in range(20):
        good.write_text("Events.subscribe('tick', function(ev) end) Hooks.register('system_shutdown', function() end) "
                        + ("error('broken')" if i % 3 == 1 else "return 1"))
        run = rt3.open_spell(good)
        try:
            await run.execute(keep=True)
        except LLMSpellError:
            run.finish()
            continue
        if old is not None:
            old.finish()
        old = run
        rt3.events.emit("tick", {"i": i})
        await rt3.events.drain()
    if old is not None:
        old.finish()
asyncio.run(reloads())
rt3.close()
print("ok")
'''


@pytest.mark.timeout(240)
def test_no_heap_corruption_under_load_churn_and_reloads(tmp_path: Path) -> None:
    (tmp_path / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\npath = ".llmspell/data"\n')
    (tmp_path / "stress.py").write_text(STRESS)
    env = {**os.environ, "MALLOC_PERTURB_": "85", "PYTHONFAULTHANDLER": "1"}
    r = subprocess.run([sys.executable, "stress.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=220)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]

"""Workflows: every builder, nesting, templates, retries, timeouts, fail_fast,
cancel, hooks/events, and a checkpointed run killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from llmspell import SpellFailed
from tests.conftest import cli


def test_sequential_templates_and_result_shape(lua):
    v = lua("""
      local wf = Workflow.sequential({ name = 'pipe', steps = {
        { name = 'calc', tool = 'calculator', input = { expression = '{{input.x}} * 2' }, output = 'doubled' },
        { name = 'keep', run = function(ctx) return { n = ctx.doubled.result, tags = { 'a' } } end, output = 'obj' },
        { name = 'typed', tool = 'json_processor', input = { input = '{{obj}}', query = 'tags[0]' } },
        { name = 'text', run = function(ctx) return ctx.steps.typed.output.result end, output = 'final' },
        { name = 'skip', run = function() error('never runs') end, when = function(ctx) return ctx.final == 'b' end },
      } })
      local r = wf:execute({ x = 21 })
      local names = {}
      for _, s in ipairs(r.steps) do names[#names + 1] = s.name .. ':' .. s.status end
      return { r.status, r.output, r.outputs.doubled.result, r.outputs.final, table.concat(names, ','),
               type(r.run_id), type(r.duration_ms) }
    """)
    assert v == ["completed", "a", 42, "a", "calc:completed,keep:completed,typed:completed,text:completed,skip:skipped",
                 "string", "number"]


def test_string_templates_render_text(lua):
    assert lua("""
      local wf = Workflow.sequential({ steps = {
        { name = 'n', run = function() return { k = 'v', list = { 1, 2 } } end, output = 'data' },
        { name = 's', tool = 'text_manipulator', input = { text = 'k={{data.k}} second={{data.list.2}}', operation = 'uppercase' } } } })
      return wf:execute().output.result
    """) == "K=V SECOND=2"


def test_missing_template_key_names_key_and_step(lua):
    with pytest.raises(SpellFailed) as ei:
        lua("Workflow.sequential({ steps = { { name = 'fetch', tool = 'calculator',"
            " input = { expression = '{{input.missing}}' } } } }):execute({ x = 1 })")
    assert ei.value.code == 3002
    assert "step 'fetch'" in ei.value.message and "missing key 'missing'" in ei.value.message


def test_parallel_runs_concurrently_with_aggregate(lua):
    t0 = time.perf_counter()
    v = lua("""
      local steps = {}
      for i = 1, 10 do steps[i] = { name = 's' .. i, run = function() Async.sleep(0.3) return i end } end
      return Workflow.parallel({ steps = steps, aggregate = function(o) local s = 0
        for _, v in pairs(o) do s = s + v end return s end }):execute().output
    """)
    assert v == 55 and time.perf_counter() - t0 < 1.5


def test_parallel_respects_max_concurrency(lua):
    v = lua("""
      local now, peak = 0, 0
      local steps = {}
      for i = 1, 8 do steps[i] = { name = 's' .. i, run = function()
        now = now + 1; if now > peak then peak = now end; Async.sleep(0.02); now = now - 1; return i end } end
      Workflow.parallel({ steps = steps, max_concurrency = 3 }):execute()
      return peak
    """)
    assert v == 3


def test_fail_fast_cancels_siblings(lua):
    t0 = time.perf_counter()
    v = lua("""
      local wf = Workflow.parallel({ name = 'ff', fail_fast = true, steps = {
        { name = 'bad', run = function() Async.sleep(0.05) error('boom') end },
        { name = 'slow', run = function() Async.sleep(5) Storage.set('slow_done', true) return 1 end } } })
      local ok, e = pcall(function() return wf:execute() end)
      return { ok, e.code, e.message, tostring(Storage.get('slow_done')), wf:status().status }
    """)
    assert v[0] is False and v[1] == 3004 and "step 'bad' failed: boom" in v[2]
    assert v[3] == "nil" and v[4] == "failed"
    assert time.perf_counter() - t0 < 2


def test_fail_fast_off_lets_siblings_finish(lua):
    v = lua("""
      local wf = Workflow.parallel({ fail_fast = false, steps = {
        { name = 'bad', run = function() error('boom') end },
        { name = 'ok', run = function() Async.sleep(0.05) Storage.set('ok_done', true) return 1 end } } })
      pcall(function() return wf:execute() end)
      return Storage.get('ok_done')
    """)
    assert v is True


def test_conditional(lua):
    v = lua("""
      local wf = Workflow.conditional({ condition = function(ctx) return ctx.input.n > 10 end,
        if_true = { name = 'big', run = function() return 'big' end },
        if_false = Workflow.sequential({ name = 'small_wf', steps = { { name = 's', run = function() return 'small' end } } }) })
      return { wf:execute({ n = 50 }).output, wf:execute({ n = 1 }).output }
    """)
    assert v == ["big", "small"]


def test_loop_over_items_and_while(lua):
    v = lua("""
      local l = Workflow.loop({ items = '{{input.urls}}', body = { name = 'b',
        run = function(ctx) return ctx.index .. '=' .. ctx.item end } })
      local w = Workflow.loop({ ['while'] = function(ctx) return ctx.index <= 3 end, body = { name = 'n',
        run = function(ctx) return ctx.index * 10 end }, max_iterations = 10 })
      return { l:execute({ urls = { 'a', 'b', 'c' } }).output, w:execute().output }
    """)
    assert v == [["1=a", "2=b", "3=c"], [10, 20, 30]]


def test_map_reduce_concurrency(lua):
    t0 = time.perf_counter()
    v = lua("""
      local items = {}
      for i = 1, 40 do items[i] = i end
      return Workflow.map_reduce({ items = items, max_concurrency = 20,
        map = { run = function(ctx) Async.sleep(0.1) return ctx.item * 2 end },
        reduce = function(rs) local s = 0 for _, x in ipairs(rs) do s = s + x end return s end }):execute().output
    """)
    assert v == 1640 and time.perf_counter() - t0 < 1.0   # 40 x 0.1 s in sequence would be 4 s


def test_nesting(lua):
    v = lua("""
      local inner = Workflow.sequential({ name = 'inner', steps = {
        { name = 'i1', run = function(ctx) return ctx.input .. '+inner' end } } })
      local outer = Workflow.sequential({ name = 'outer', steps = {
        { name = 'o1', run = function() return 'start' end, output = 'x' },
        { name = 'nest', workflow = inner, input = '{{x}}', output = 'y' },
        { name = 'o2', run = function(ctx) return ctx.y .. '+done' end } } })
      return outer:execute().output
    """)
    assert v == "start+inner+done"


def test_retry_with_backoff_then_success(lua):
    v = lua("""
      local n = 0
      local r = Workflow.sequential({ steps = { { name = 'flaky', retry = { attempts = 3, backoff = 0.01 },
        run = function() n = n + 1 if n < 3 then error('flake ' .. n) end return 'ok' end } } }):execute()
      return { r.output, r.steps[1].attempts }
    """)
    assert v == ["ok", 3]


def test_timeout_and_fallback_and_continue(lua):
    v = lua("""
      local r = Workflow.sequential({ on_error = 'continue', steps = {
        { name = 'slow', timeout = 0.05, run = function() Async.sleep(2) return 'late' end },
        { name = 'guarded', timeout = 0.05, run = function() Async.sleep(2) end,
          fallback = { name = 'fb', run = function() return 'from fallback' end }, output = 'g' },
        { name = 'last', run = function(ctx) return ctx.g end } } }):execute()
      return { r.status, r.steps[1].status, r.errors[1].code, r.output }
    """)
    assert v == ["completed", "failed", 3007, "from fallback"]


def test_cancel_and_status(lua):
    v = lua("""
      local wf = Workflow.sequential({ name = 'long', steps = {
        { name = 'a', run = function() return 1 end },
        { name = 'b', run = function() Async.sleep(5) return 2 end } } })
      local seen
      local res = Async.all({
        function() local ok, e = pcall(function() return wf:execute() end) return { ok, e.code } end,
        function() Async.sleep(0.1) seen = wf:status() return wf:cancel() end })
      return { res[1][1], res[1][2], res[2], seen.status, seen.running[1], wf:status().status }
    """)
    assert v == [False, 3003, True, "running", "b", "cancelled"]


def test_hooks_and_events(lua):
    lua("""
      Hooks.register('before_workflow_step', function(ctx)
        if ctx.name == 'b' then return { action = 'modify', input = 'patched' } end end)
      Hooks.register('after_workflow_step', function(ctx)
        if ctx.name == 'b' then return { action = 'modify', output = ctx.output .. '!' } end end)
      local evs = {}
      Events.subscribe('workflow.>', function(ev) evs[#evs + 1] = ev.type .. (ev.data.step and (':' .. ev.data.step) or '') end)
      local r = Workflow.sequential({ name = 'hw', steps = { { name = 'a', run = function() return 1 end },
        { name = 'b', run = function(ctx) return 'x' end, input = 'orig' } } }):execute()
      Async.sleep(0.01)
      print(r.output)
      print(table.concat(evs, ' '))
    """)
    assert lua.lines[0] == "x!"
    assert lua.lines[1] == ("workflow.started workflow.step.started:a workflow.step.completed:a "
                            "workflow.step.started:b workflow.step.completed:b workflow.completed")


def test_agent_steps(lua):
    v = lua("""
      local summarizer = Agent.new({ name = 'sum', model = 'mock/x' })
      local r = Workflow.sequential({ steps = {
        { name = 'draft', run = function() return 'long text' end, output = 'draft' },
        { name = 'sum', agent = summarizer, input = 'Summarize: {{draft}}', output = 'summary' },
        { name = 'by_name', agent = 'sum', input = 'again' } } }):execute()
      return { r.outputs.summary, r.output }
    """)
    assert v == ["Summarize: long text", "again"]


def test_bad_definitions_are_named(lua):
    for code, needle in [
        ("Workflow.sequential({ steps = {} })", "'steps' must be a non-empty array"),
        ("Workflow.sequential({ steps = { { name = 'x' } } })", "needs exactly one of tool, agent, workflow or run"),
        ("Workflow.sequential({ steps = { { name = 'x', run = function() end, tool = 'calculator' } } })", "(has tool, run)"),
        ("Workflow.sequential({ steps = { { name = 'x', run = function() end, colour = 1 } } })", "unknown key(s) colour"),
        ("Workflow.sequential({ steps = { { name = 'x', run = function() end }, { name = 'x', run = function() end } } })", "repeated: x"),
        ("Workflow.loop({ body = { run = function() end } })", "give 'items'"),
    ]:
        with pytest.raises(SpellFailed) as ei:
            lua(code)
        assert ei.value.code == 3002 and needle in ei.value.message, (code, ei.value.message)


def test_runs_are_recorded(project):
    (project / "w.lua").write_text(
        "Workflow.sequential({ name = 'rec', steps = { { name = 'one', run = function() return 1 end },"
        " { name = 'two', run = function() error('bad step') end } }, on_error = 'continue' }):execute()")
    assert cli("run", "w.lua", cwd=project).returncode == 0
    runs = json.loads(cli("--json", "runs", "list", cwd=project).stdout)
    assert runs[0]["workflow"] == "rec" and runs[0]["status"] == "completed"
    shown = cli("runs", "show", runs[0]["run_id"], cwd=project)
    assert shown.returncode == 0 and "two" in shown.stdout and "bad step" in shown.stdout
    assert cli("runs", "show", "nope", cwd=project).returncode == 1


RESUMABLE = """
local function mark(name) Tools.get('file_writer'):execute({ path = 'log.txt', content = name .. '\\n', append = true }) end
local wf = Workflow.sequential({ name = 'resumable', checkpoint = true, steps = {
  { name = 'one', run = function() mark('one') return 1 end, output = 'a' },
  { name = 'two', run = function(ctx) mark('two') print('RUN ' .. ctx.run_id) return ctx.a + 1 end, output = 'b' },
  { name = 'three', run = function(ctx) mark('three') if params.crash then Async.sleep(60) end return ctx.b + 1 end },
  { name = 'four', run = function(ctx) mark('four') return ctx.steps.three.output * 10 end },
} })
print('RESULT ' .. wf:execute({ seed = 1 }).output)
"""


def test_kill_9_then_resume_skips_finished_steps(project):
    (project / "r.lua").write_text(RESUMABLE)
    p = subprocess.Popen([sys.executable, "-m", "llmspell", "run", "r.lua", "-p", "crash=true"], cwd=project,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("RUN "), line
        run_id = line.split()[1]
        deadline = time.time() + 10
        while "three" not in (project / "log.txt").read_text() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    assert (project / "log.txt").read_text().split() == ["one", "two", "three"]
    listed = json.loads(cli("--json", "runs", "list", cwd=project).stdout)
    assert listed[0]["run_id"] == run_id and listed[0]["status"] == "running"

    r = cli("run", "r.lua", "--resume", run_id, cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "RESULT 30"
    # one and two were not run again; three (unfinished) and four ran once
    assert (project / "log.txt").read_text().split() == ["one", "two", "three", "three", "four"]
    shown = json.loads(cli("--json", "runs", "show", run_id, cwd=project).stdout)
    assert shown["status"] == "completed"
    assert [s["name"] for s in shown["steps"] if s.get("resumed")] == ["one", "two"]


def test_resume_from_the_spell_with_run_id(lua):
    v = lua("""
      local n, tries = 0, 0
      local wf = Workflow.sequential({ name = 'again', checkpoint = true, steps = {
        { name = 'count', run = function() n = n + 1 return n end },
        { name = 'fail_once', run = function() tries = tries + 1 if tries == 1 then error('first time') end return 'ok' end } } })
      local ok, e = pcall(function() return wf:execute() end)
      local rid = e.details.run_id
      local r = wf:execute(nil, { run_id = rid })
      return { ok, r.output, n, r.run_id == rid }
    """)
    assert v == [False, "ok", 1, True]


def test_progress_lines_on_stderr_when_piped(project):
    (project / "p.lua").write_text("Workflow.sequential({ name = 'shown', steps = { { name = 's1', run = function() return 1 end } } }):execute()")
    r = cli("run", "p.lua", cwd=project)
    assert r.stdout == "" and "workflow shown started" in r.stderr and "step s1 completed" in r.stderr

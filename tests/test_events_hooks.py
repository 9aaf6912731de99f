"""Events (patterns, delivery, persistence, replay) and hooks (all actions)."""

from __future__ import annotations

import pytest

from llmspell import SpellFailed
from llmspell.core.events import compile_pattern
from llmspell.errors import LLMSpellError


@pytest.mark.parametrize("pattern,subject,ok", [
    ("tool.*", "tool.completed", True), ("tool.*", "tool.a.b", False), ("tool.>", "tool.a.b", True),
    ("tool.>", "tool", False), ("*.completed", "spell.completed", True), ("a.b", "a.b", True),
    ("a.b", "a.c", False), (">", "anything.at.all", True),
])
def test_patterns(pattern, subject, ok):
    assert compile_pattern(pattern)(subject) is ok


def test_bad_patterns_are_rejected():
    for p in ("", "a..b", "a.>.b"):
        with pytest.raises(LLMSpellError):
            compile_pattern(p)


def test_subscribers_receive_events_in_order(lua):
    lua("""
      local got = {}
      Events.subscribe('report.*', function(ev) table.insert(got, ev.type .. '=' .. ev.data.n) end)
      Events.subscribe('report.>', function(ev) Async.sleep(0.001) end)
      for i = 1, 5 do Events.emit('report.ready', { n = i }) end
      Events.emit('other.thing', {})
      Async.sleep(0.05)
      print(table.concat(got, ','))
    """)
    assert lua.lines == ["report.ready=1,report.ready=2,report.ready=3,report.ready=4,report.ready=5"]


def test_builtin_tool_events(lua):
    lua("""
      local seen = {}
      Events.subscribe('tool.*', function(ev) table.insert(seen, ev.type .. ':' .. ev.source) end)
      Tools.get('calculator'):execute({ expression = '1+1' })
      pcall(function() Tools.get('calculator'):execute({ expression = '1/0' }) end)
      Async.sleep(0.02)
      print(table.concat(seen, ' '))
    """)
    assert lua.lines == ["tool.started:calculator tool.completed:calculator tool.started:calculator tool.error:calculator"]


def test_events_are_delivered_before_the_run_ends(lua):
    lua("Events.subscribe('x.y', function(ev) Async.sleep(0.05) print('handled', ev.data) end)\nEvents.emit('x.y', 7)")
    assert lua.lines == ["handled\t7"]


def test_unsubscribe(lua):
    lua("local n = 0\nlocal id = Events.subscribe('a.b', function() n = n + 1 end)\nEvents.emit('a.b')\nAsync.sleep(0.01)\n"
        "Events.unsubscribe(id)\nEvents.emit('a.b')\nAsync.sleep(0.01)\nprint(n)")
    assert lua.lines == ["1"]


def test_replay_reads_persisted_history_across_runs(lua):
    lua("Events.emit('audit.login', { user = 'ada' })\nEvents.emit('audit.logout', { user = 'ada' })")
    v = lua("local evs = Events.replay({ type = 'audit.*' })\nlocal out = {}\n"
            "for _, e in ipairs(evs) do out[#out+1] = e.type .. ':' .. e.data.user end\nreturn out")
    assert v == ["audit.login:ada", "audit.logout:ada"]
    assert lua("return #Events.replay({ type = 'spell.completed', limit = 1 })") == 1


def test_failing_subscriber_does_not_stop_the_spell(lua, capsys):
    lua("Events.subscribe('e.x', function() error('handler broke') end)\nEvents.emit('e.x')\nAsync.sleep(0.01)\nprint('still here')")
    assert lua.lines == ["still here"]
    assert "handler broke" in capsys.readouterr().err


def test_hook_modify_input_and_output(lua):
    v = lua("""
      Hooks.register('before_tool_execution', function(ctx)
        if ctx.name == 'calculator' then return { action = 'modify', input = { expression = '10 * 10' } } end
      end)
      Hooks.register('after_tool_execution', function(ctx)
        return { action = 'modify', output = { result = ctx.output.result + 1, metadata = ctx.output.metadata } }
      end)
      return Tools.get('calculator'):execute({ expression = '1 + 1' }).result
    """)
    assert v == 101


def test_hook_replace_skips_the_work(lua):
    v = lua("Hooks.register('before_tool_execution', function(ctx) return { action = 'replace', output = 'cached' } end)\n"
            "return Tools.get('file_reader'):execute({ path = '/nonexistent' }).result")
    assert v == "cached"


def test_hook_cancel_raises_5001(lua):
    v = lua("Hooks.register('before_tool_execution', function(ctx) return { action = 'cancel', reason = 'not here' } end)\n"
            "local ok, e = pcall(function() return Tools.get('calculator'):execute({ expression = '1' }) end)\n"
            "return {e.code, e.message}")
    assert v == [5001, "calculator: not here"]


def test_hook_retry_at_error_point(lua):
    v = lua("""
      local n = 0
      local flaky = Tools.create('flaky', { description = 'fails twice', execute = function()
        n = n + 1; if n < 3 then error('flake') end; return n end })
      Hooks.register('tool_error', function(ctx) if ctx.attempt < 3 then return { action = 'retry' } end end)
      return flaky:execute({}).result
    """)
    assert v == 3


def test_hook_priority_order_and_unregister(lua):
    lua("""
      local order = {}
      Hooks.register('before_tool_execution', function() table.insert(order, 'late') end, { priority = 50 })
      local id = Hooks.register('before_tool_execution', function() table.insert(order, 'early') end, { priority = 1 })
      Tools.get('uuid_generator'):execute({})
      Hooks.unregister(id)
      Tools.get('uuid_generator'):execute({})
      print(table.concat(order, ','), #Hooks.list())
    """)
    assert lua.lines == ["early,late,late\t1"]


def test_hooks_can_wait(lua):
    assert lua("Hooks.register('before_tool_execution', function(ctx) Async.sleep(0.01); Storage.set('hooked', ctx.name) end)\n"
               "Tools.get('uuid_generator'):execute({})\nreturn Storage.get('hooked')") == "uuid_generator"


def test_unknown_hook_point(lua):
    with pytest.raises(SpellFailed, match="unknown hook point"):
        lua("Hooks.register('before_everything', function() end)")


def test_registrations_end_with_the_run(lua):
    lua("Hooks.register('before_tool_execution', function() return { action = 'cancel' } end)")
    assert lua("return Tools.get('calculator'):execute({ expression = '2' }).result") == 2

"""Agents on the mock provider and on a local OpenAI-compatible server via litellm."""

from __future__ import annotations

import time

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import Lua, cli


def srv_rt(project, server, extra: str = "") -> Lua:
    (project / "llmspell.toml").write_text(
        f'[providers]\ndefault = "fake/test-model"\n[providers.fake]\nbase_url = "{server.url}"\n'
        f'api_key = "sk-test-secret-123"\ncircuit_threshold = 3\ncircuit_reset = 0.5\n{extra}')
    return Lua(Runtime(cwd=project))


# -- mock provider -------------------------------------------------------------------

def test_mock_chat_echoes_and_keeps_history(lua):
    v = lua("local a = Agent.new({ name = 'e', model = 'mock/x', system_prompt = 'terse' })\n"
            "local r1 = a:chat('first') local r2 = a:chat('second')\n"
            "local h = a:history() return { r1, r2, #h, h[1].role, h[4].content }")
    assert v == ["first", "second", 4, "user", "second"]


def test_mock_tool_loop_with_several_calls_in_one_turn(lua):
    v = lua("""
      local slow = Tools.create('slow', { description = 'waits', execute = function(i) Async.sleep(0.3) return i.n * 2 end,
        input_schema = { type = 'object', properties = { n = { type = 'integer' } }, required = { 'n' } } })
      local a = Agent.new({ name = 'calc', model = 'mock/x', tools = { 'calculator', slow },
        responses = { { tool_calls = { { tool = 'slow', input = { n = 1 } }, { tool = 'slow', input = { n = 2 } },
                                       { tool = 'calculator', input = { expression = '2 + 2' } } } },
                      'done: 2, 4, 4' } })
      local t0 = os.time()
      local out = a:execute({ input = 'go' })
      local names = {}
      for _, c in ipairs(out.tool_calls) do names[#names + 1] = c.name .. '=' .. tostring(c.output) end
      return { out.output, table.concat(names, ','), out.agent, out.usage.total_tokens > 0 }
    """)
    assert v == ["done: 2, 4, 4", "slow=2,slow=4,calculator=4", "calc", True]


def test_tool_calls_run_concurrently(lua):
    t0 = time.perf_counter()
    lua("""
      local slow = Tools.create('nap', { description = 'naps', execute = function() Async.sleep(0.5) return 'ok' end })
      local a = Agent.new({ model = 'mock/x', tools = { slow }, responses = {
        { tool_calls = { { tool = 'nap' }, { tool = 'nap' }, { tool = 'nap' }, { tool = 'nap' } } }, 'rested' } })
      assert(a:chat('sleep') == 'rested')
    """)
    assert time.perf_counter() - t0 < 1.5   # four 0.5 s tools in sequence would take 2 s


def test_tool_errors_go_back_to_the_model(lua):
    v = lua("""
      local seen
      local a = Agent.new({ model = 'mock/x', tools = { 'calculator' }, responses = {
        { tool = 'calculator', input = { expression = '1 / 0' } }, { tool = 'missing_tool', input = {} }, 'recovered' } })
      local out = a:execute({ input = 'x' })
      return { out.output, out.tool_calls[1].error.code, out.tool_calls[2].error.code }
    """)
    assert v == ["recovered", 2003, 1008]


def test_tool_calls_go_through_hooks_and_events(lua):
    lua("""
      Hooks.register('before_tool_execution', function(ctx) print('hook', ctx.name, ctx.caller) end)
      Events.subscribe('agent.*', function(ev) print('event', ev.type) end)
      local a = Agent.new({ name = 'h', model = 'mock/x', tools = { 'uuid_generator' },
                            responses = { { tool = 'uuid_generator', input = {} }, 'ok' } })
      a:chat('x')
    """)
    assert sorted(lua.lines) == ["event\tagent.completed", "event\tagent.started", "hook\tuuid_generator\tagent:h"]


def test_max_iterations_stops_the_loop(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', tools = { 'uuid_generator' }, max_iterations = 2, responses = {
        { tool = 'uuid_generator' }, { tool = 'uuid_generator' }, { tool = 'uuid_generator' }, 'final' } })
      local out = a:execute({ input = 'loop' })
      return { #out.tool_calls, out.output, out.stopped }
    """)
    # after two tool rounds the model is asked once more with no tools offered
    assert v == [2, "", "max_iterations"]


def test_agents_as_tools_and_registry(lua):
    v = lua("""
      local researcher = Agent.new({ name = 'researcher', model = 'mock/x', description = 'finds facts',
                                     responses = { 'Paris is the capital' } })
      local boss = Agent.new({ name = 'boss', model = 'mock/x', tools = { researcher },
        responses = { { tool = 'researcher', input = { input = 'capital of France?' } }, 'Answer: Paris' } })
      local out = boss:execute({ input = 'q' })
      local t = researcher:as_tool({ name = 'r2', description = 'same' })
      return { out.output, out.tool_calls[1].output, Agent.get('boss').name, #Agent.list(), t.name,
               Agent.execute('researcher', { input = 'again' }).output }
    """)
    assert v == ["Answer: Paris", "Paris is the capital", "boss", 2, "r2", "again"]


def test_structured_output_is_validated(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', responses = { 'not json', '{"colours": ["red", "green", "blue"]}' } })
      return a:structured('List 3 colours', { type = 'object', required = { 'colours' },
        properties = { colours = { type = 'array', items = { type = 'string' } } } })
    """)
    assert v == {"colours": ["red", "green", "blue"]}
    with pytest.raises(SpellFailed) as ei:
        lua("local a = Agent.new({ model = 'mock/x', responses = { '{}', '[]' } })\n"
            "a:structured('x', { type = 'object', required = { 'a' } })")
    assert ei.value.code == 1003


def test_stream_calls_back_per_chunk(lua):
    lua("local a = Agent.new({ model = 'mock/x', responses = { 'once upon a time' } })\n"
        "local full = a:stream('story', function(c) io_write('<' .. c .. '>') end)\nprint('|' .. full)")
    assert lua.out.getvalue() == "<once>< upon>< a>< time>|once upon a time\n"


def test_remember_recall_forget_reach_the_prompt(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', system_prompt = 'base' })
      a:remember('user', 'Ada')
      local seen
      Hooks.register('before_llm_call', function(ctx) seen = ctx.input.messages[1].content end)
      a:chat('hi')
      local r = a:recall('user'); a:forget('user')
      return { seen, r, a:recall('user') }
    """)
    assert v == ["base\n\nThings to remember:\n- user: Ada", "Ada"]


def test_persisted_memory_continues_in_a_later_run(project):
    code = ("local a = Agent.new({ name = 'diary', model = 'mock/x', memory = { persist = true }, session = 's1' })\n"
            "a:chat(params.msg)\nreturn #a:history()")
    rt = Runtime(cwd=project)
    assert rt.run(code, params={"msg": "first"}) == 2
    rt.close()
    rt = Runtime(cwd=project)
    assert rt.run(code, params={"msg": "second"}) == 4
    assert rt.run("local a = Agent.new({ name = 'diary', model = 'mock/x', memory = { persist = true } })\n"
                  "return #a:history()") == 0       # another session starts empty
    rt.close()


def test_history_is_trimmed_but_keeps_the_system_prompt(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', system_prompt = 'S', memory = { max_messages = 4 } })
      for i = 1, 5 do a:chat('m' .. i) end
      local h = a:history()
      local seen
      Hooks.register('before_llm_call', function(ctx) seen = ctx.input.messages end)
      a:chat('last')
      return { #h, h[1].content, seen[1].content, seen[1].role }
    """)
    assert v == [4, "m4", "S", "system"]


def test_budget_stops_before_the_call(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', budget = { max_tokens = 40 } })
      a:chat('short')
      local ok, e = pcall(function() return a:chat(string.rep('long words ', 50)) end)
      return { ok, e.code, e.message:find('token budget') ~= nil, #a:history() }
    """)
    assert v == [False, 6006, True, 2]


def test_run_budget_from_config(project):
    (project / "llmspell.toml").write_text("[budget]\nmax_tokens = 30\n")
    rt = Runtime(cwd=project)
    with pytest.raises(SpellFailed) as ei:
        rt.run("local a = Agent.new({ model = 'mock/x' }) for i = 1, 10 do a:chat('hello there ' .. i) end")
    assert ei.value.code == 6006 and "run: token budget 30" in ei.value.message
    rt.close()


def test_mock_errors_retry_then_fallback(project, server):
    server.script({"content": "answer from the fallback server"})
    lua = srv_rt(project, server)
    v = lua("""
      local calls = {}
      Events.subscribe('llm.*', function(ev)
        calls[#calls + 1] = ev.type:sub(5) .. ' ' .. ev.data.model .. (ev.data.attempt and ('#' .. ev.data.attempt) or '')
      end)
      -- one failure: the retry on the primary answers, the fallback is never asked
      local a = Agent.new({ model = 'mock/a', retry = { attempts = 2, backoff = 0 }, fallbacks = { 'fake/backup-model' },
        responses = { { error = 'overloaded', status = 503 }, 'after retry' } })
      local r1 = a:chat('x')
      Async.sleep(0.01)
      local first = calls
      calls = {}
      -- the primary keeps failing: after its attempts the fallback model answers
      local b = Agent.new({ model = 'mock/a', retry = { attempts = 2, backoff = 0 }, fallbacks = { 'fake/backup-model' },
        responses = { { error = 'overloaded', status = 503 }, { error = 'still overloaded', status = 503 } } })
      local r2 = b:chat('y')
      Async.sleep(0.01)
      return { r1, first, r2, calls }
    """)
    r1, first, r2, second = v
    assert r1 == "after retry"
    assert first == ["request mock/a#1", "request mock/a#2", "response mock/a"]
    assert r2 == "answer from the fallback server"
    assert second == ["request mock/a#1", "request mock/a#2", "request fake/backup-model#1",
                      "response fake/backup-model"]
    assert len(server.requests) == 1 and server.requests[0]["model"] == "backup-model"


def test_agent_hooks_modify_and_replace(lua):
    v = lua("""
      Hooks.register('before_agent_execution', function(ctx)
        return { action = 'modify', input = { input = ctx.input.input .. ' (edited)' } } end)
      Hooks.register('after_llm_call', function(ctx)
        local o = ctx.output; o.content = o.content .. '!'; return { action = 'modify', output = o } end)
      local a = Agent.new({ model = 'mock/x' })
      local r = a:chat('hi')
      Hooks.register('before_llm_call', function() return { action = 'replace', output = 'cached answer' } end)
      return { r, a:chat('again') }
    """)
    assert v == ["hi (edited)!", "cached answer"]   # replace skips the call, so no after_llm_call


def test_bad_agent_config_is_named(lua):
    with pytest.raises(SpellFailed, match="model must look like 'provider/model'"):
        lua("Agent.new({ model = 'gpt' })")
    with pytest.raises(SpellFailed, match="unknown option"):
        lua("Agent.new({ model = 'mock/x', temprature = 1 })")
    with pytest.raises(SpellFailed) as ei:
        lua("Agent.new({ model = 'mock/x', tools = { 'no_such_tool' } })")
    assert ei.value.code == 1008


def test_templates(lua):
    v = lua("local a = Agent.template('research_specialist', { model = 'mock/x' })\n"
            "return { a.name, a.model, #Agent.list()[1].tools > 0 }")
    assert v == ["research_specialist", "mock/x", True]
    with pytest.raises(SpellFailed) as ei:
        lua("Agent.template('nope')")
    assert ei.value.code == 1001 and "templates: api_integration" in ei.value.suggestions[0]


# -- a real OpenAI-compatible server through litellm ----------------------------------

def test_server_chat_and_usage(project, server):
    lua = srv_rt(project, server)
    v = lua("local a = Agent.new({ name = 's' })\nlocal out = a:execute({ input = 'hello server' })\n"
            "return { out.output, out.usage.prompt_tokens > 0, a.model }")
    assert v == ["echo: hello server", True, "fake/test-model"]
    assert server.requests[0]["model"] == "test-model"


def test_server_tool_calls_several_in_one_turn(project, server):
    server.script({"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}},
                                  {"name": "calculator", "arguments": {"expression": "1+1"}}]},
                  {"content": "42 and 2"})
    lua = srv_rt(project, server)
    v = lua("local a = Agent.new({ tools = { 'calculator' } })\nlocal out = a:execute({ input = 'compute' })\n"
            "return { out.output, out.tool_calls[1].output, out.tool_calls[2].output }")
    assert v == ["42 and 2", 42, 2]
    follow_up = server.requests[1]["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "tool", "tool"]
    assert server.requests[0]["tools"][0]["function"]["name"] == "calculator"


def test_server_streaming(project, server):
    server.script({"content": "streamed reply here"})
    lua = srv_rt(project, server)
    lua("local a = Agent.new({})\nlocal n = 0\nlocal full = a:stream('x', function(c) n = n + 1 end)\nprint(full, n)")
    assert lua.lines == ["streamed reply here\t3"]


def test_server_429_honours_retry_after(project, server):
    server.script({"status": 429, "headers": {"Retry-After": "1"}}, {"content": "ok after wait"})
    lua = srv_rt(project, server)
    t0 = time.perf_counter()
    assert lua("return Agent.new({ retry = { attempts = 3, backoff = 0.01 } }):chat('x')") == "ok after wait"
    assert time.perf_counter() - t0 >= 0.9     # waited the server's Retry-After, not the 0.01 s backoff
    assert len(server.requests) == 2


def test_server_500s_are_retried_then_reported(project, server):
    server.script({"status": 500}, {"status": 502}, {"content": "third time"})
    lua = srv_rt(project, server)
    assert lua("return Agent.new({ retry = { attempts = 3, backoff = 0.01 } }):chat('x')") == "third time"
    server.script({"status": 500}, {"status": 500})
    with pytest.raises(SpellFailed) as ei:
        lua("return Agent.new({ retry = { attempts = 2, backoff = 0.01 } }):chat('x')")
    assert "server error (500)" in ei.value.message


def test_slow_server_hits_the_timeout(project, server):
    server.script({"delay": 3, "content": "too late"})
    lua = srv_rt(project, server)
    t0 = time.perf_counter()
    with pytest.raises(SpellFailed) as ei:
        lua("return Agent.new({ timeout = 0.5, retry = { attempts = 1 } }):chat('x')")
    assert ei.value.code == 1005 and time.perf_counter() - t0 < 2.5
    assert len(server.requests) == 1              # the server got the call: its slowness hit the timeout


def test_first_call_is_not_charged_for_importing_litellm(project, server):
    srv_rt(project, server).rt.close()
    (project / "first.lua").write_text("print(Agent.new({ timeout = 0.5, retry = { attempts = 1 } }):chat('hi'))")
    r = cli("run", "first.lua", cwd=project)      # a fresh process: litellm not imported yet
    assert r.returncode == 0 and r.stdout == "echo: hi\n", r.stderr


def test_malformed_json_from_the_server(project, server):
    server.script({"raw": "this is not json{"})
    lua = srv_rt(project, server)
    with pytest.raises(SpellFailed) as ei:
        lua("return Agent.new({ retry = { attempts = 1 } }):chat('x')")
    assert ei.value.code == 1009 and "Traceback" not in ei.value.message


def test_circuit_breaker_opens_and_fallback_answers(project, server):
    server.script(*[{"status": 500}] * 3)
    lua = srv_rt(project, server)
    v = lua("""
      local evs = {}
      Events.subscribe('circuit.*', function(ev) evs[#evs + 1] = ev.type .. ':' .. ev.data.provider end)
      local a = Agent.new({ retry = { attempts = 3, backoff = 0 }, fallbacks = { 'mock/backup' },
                            responses = { 'from backup', 'backup again' } })
      local r1 = a:chat('x')
      local n = #evs
      local r2 = a:chat('y')      -- circuit open: the server is not called at all
      Async.sleep(0.01)
      return { r1, r2, evs[1] }
    """)
    assert v == ["from backup", "backup again", "circuit.opened:fake"]
    assert len(server.requests) == 3


def test_secrets_never_reach_events_or_errors(project, server):
    server.script({"status": 401})
    lua = srv_rt(project, server)
    v = lua("""
      local dump = {}
      Events.subscribe('>', function(ev) dump[#dump + 1] = JSON.encode(ev) end)
      local ok, e = pcall(function() return Agent.new({ retry = { attempts = 1 } }):chat('x') end)
      Async.sleep(0.01)
      return { e.code, tostring(e), table.concat(dump, '\\n'), JSON.encode(Config.get('providers')) }
    """)
    assert v[0] == 6004
    for text in v[1:]:
        assert "sk-test-secret-123" not in text


def test_run_summary_and_json_usage(project, server):
    from tests.conftest import cli
    srv_rt(project, server)
    (project / "a.lua").write_text("local a = Agent.new({ name = 'bot' })\nprint(a:chat('hey'))")
    r = cli("run", "a.lua", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "echo: hey\n" and "model usage" in r.stderr and "fake/test-model" in r.stderr
    import json
    d = json.loads(cli("--json", "run", "a.lua", cwd=project).stdout)
    assert d["usage"][0]["agent"] == "bot" and d["usage"][0]["calls"] == 1


def test_rate_limit_per_agent(lua):
    t0 = time.perf_counter()
    lua("local a = Agent.new({ model = 'mock/x', rate_limit = { rpm = 2 } })\na:chat('1') a:chat('2')")
    assert time.perf_counter() - t0 < 1    # within the limit: no waiting
    import asyncio

    from llmspell.core.resilience import RateLimiter

    async def three() -> float:
        lim = RateLimiter(rpm=2, window=0.5)
        t = time.perf_counter()
        for _ in range(3):
            await lim.acquire()
        return time.perf_counter() - t
    assert asyncio.run(three()) >= 0.45


@pytest.mark.local_model
def test_local_smollm2_answers(lua):
    out = lua("return Agent.new({ model = 'local/smollm2', max_tokens = 20 }):chat('Say hello')")
    assert isinstance(out, str) and out


def test_self_hosted_prices_from_config(project, server):
    lua = srv_rt(project, server, 'input_cost_per_token = 0.001\noutput_cost_per_token = 0.002\n')
    v = lua("local out = Agent.new({}):execute({ input = 'price me' })\n"
            "return { out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.cost }")
    pt, ct, cost = v
    assert pt > 0 and ct > 0 and abs(cost - (pt * 0.001 + ct * 0.002)) < 1e-9


def test_stream_failing_midway_is_not_retried(lua, monkeypatch):
    from llmspell.providers.base import ProviderError
    from llmspell.providers.mock import MockProvider

    async def broken_stream(self, req):
        yield "partial"
        raise ProviderError("mock: connection dropped", status=502, retryable=True)
    monkeypatch.setattr(MockProvider, "stream", broken_stream)
    v = lua("local chunks = {}\nlocal a = Agent.new({ model = 'mock/x', retry = { attempts = 3, backoff = 0 } })\n"
            "local ok, e = pcall(function() return a:stream('x', function(c) chunks[#chunks + 1] = c end) end)\n"
            "return { ok, #chunks, e.message }")
    assert v == [False, 1, "mock: connection dropped"]     # one chunk, no repeated attempts

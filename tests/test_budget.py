"""Cost budgets stop model calls once the money is spent (error 6006, before the call).

The mock provider is free, so these talk to the fake OpenAI-compatible server with
configured per-token prices, as a self-hosted server would be priced.
"""

from __future__ import annotations

import pytest

from llmspell import SpellFailed
from tests.conftest import Lua, cli, make_rt

PRICES = "input_cost_per_token = 0.001\noutput_cost_per_token = 0.002\n"


def priced(project, server, extra: str = "") -> Lua:
    return Lua(make_rt(project, f'{extra}[providers]\ndefault = "fake/test-model"\n[providers.fake]\n'
                                f'base_url = "{server.url}"\n{PRICES}'))


def test_agent_cost_budget_stops_the_next_call(project, server):
    lua = priced(project, server)
    v = lua("""
      local a = Agent.new({ name = 'thrifty', budget = { max_cost = 0.005 } })
      local out = a:execute({ input = 'first question' })            -- allowed: nothing spent yet
      local ok, e = pcall(function() return a:chat('second question') end)
      local other = Agent.new({ name = 'free' }):chat('not limited')  -- the budget is the agent's own
      return { out.usage.cost, ok, e.code, e.message, other }
    """)
    cost, ok, code, msg, other = v
    assert cost >= 0.005                                   # the first call spent the whole budget
    assert (ok, code) == (False, 6006)
    assert "agent 'thrifty': cost budget $0.005 is spent" in msg
    assert other == "echo: not limited"
    # the refused call never reached the server
    assert [r["messages"][-1]["content"] for r in server.requests] == ["first question", "not limited"]


def test_agent_cost_budget_not_yet_spent_allows_calls(project, server):
    lua = priced(project, server)
    v = lua("local a = Agent.new({ budget = { max_cost = 100 } })\nreturn { a:chat('one'), a:chat('two') }")
    assert v == ["echo: one", "echo: two"]


def test_run_cost_budget_from_config_covers_every_agent(project, server):
    lua = priced(project, server, "[budget]\nmax_cost = 0.005\n")
    v = lua("""
      local first = Agent.new({ name = 'a' }):chat('spend it')
      local ok, e = pcall(function() return Agent.new({ name = 'b' }):chat('too late') end)
      return { first, ok, e.code, e.message }
    """)
    assert v[:3] == ["echo: spend it", False, 6006]
    assert "run: cost budget $0.005 is spent" in v[3]
    assert len(server.requests) == 1


def test_run_cost_budget_stops_the_cli_run(project, server):
    priced(project, server, "[budget]\nmax_cost = 0.005\n").rt.close()
    (project / "spend.lua").write_text("local a = Agent.new({})\nprint(a:chat('one'))\nprint(a:chat('two'))")
    r = cli("run", "spend.lua", cwd=project)
    assert r.returncode == 1 and r.stdout == "echo: one\n"
    assert "6006" in r.stderr and "cost budget" in r.stderr
    assert len(server.requests) == 1


def test_a_free_model_never_exhausts_a_cost_budget(lua):
    v = lua("local a = Agent.new({ model = 'mock/x', budget = { max_cost = 0.000001 } })\n"
            "for i = 1, 5 do a:chat('hi ' .. i) end\nreturn a:chat('still free')")
    assert v == "still free"


def test_cost_budget_raised_error_is_not_retried(project, server):
    lua = priced(project, server)
    with pytest.raises(SpellFailed) as ei:
        lua("local a = Agent.new({ budget = { max_cost = 0.0001 }, retry = { attempts = 3, backoff = 0 },"
            " fallbacks = { 'fake/other-model' } })\na:chat('one')\na:chat('two')")
    assert ei.value.code == 6006 and not ei.value.recoverable
    assert len(server.requests) == 1                       # neither retried nor sent to the fallback

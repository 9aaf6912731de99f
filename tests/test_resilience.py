"""Retries really back off, circuit breakers recover, rate limits really wait.

Each test here fails when its behaviour is switched off (see issue 9, item 8):
timings are lower bounds with wide margins, never tight upper bounds.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from llmspell import SpellFailed
from llmspell.core.resilience import CircuitBreaker, RateLimiter, backoff_delay
from tests.conftest import Lua, make_rt


def srv_lua(project, server, extra: str = "") -> Lua:
    return Lua(make_rt(project, f'[providers]\ndefault = "fake/test-model"\n[providers.fake]\n'
                                f'base_url = "{server.url}"\n{extra}'))


# -- retries back off --------------------------------------------------------------

def test_backoff_delay_grows_and_honours_retry_after():
    for attempt, base in ((0, 0.2), (1, 0.2), (3, 0.1)):
        full = base * 2 ** attempt
        for _ in range(50):
            assert full / 2 <= backoff_delay(attempt, base, 30.0) <= full    # full jitter in the upper half
    assert backoff_delay(10, 1.0, 5.0) <= 5.0                                 # capped
    assert backoff_delay(0, 0.01, 30.0, retry_after=2.0) == 2.0               # the server's Retry-After wins


RETRY_GAPS = """
  local ts = {}
  Events.subscribe('llm.request', function(ev) ts[#ts + 1] = ev.timestamp end)
  local r = Agent.new({ %s retry = { attempts = 3, backoff = 0.2 } }):chat('x')
  Async.sleep(0.01)
  return { r, #ts, ts[2] - ts[1], ts[3] - ts[2] }
"""


def test_agent_retries_wait_between_attempts(lua):
    r, n, gap1, gap2 = lua(RETRY_GAPS % "model = 'mock/x', responses = { { error = 'overloaded', status = 500 }, "
                                          "{ error = 'overloaded', status = 500 }, 'third time' },")
    assert (r, n) == ("third time", 3)
    # full jitter: 0.1–0.2 s, then 0.2–0.4 s (instant retries would be a few ms apart)
    assert gap1 >= 0.09 and gap2 >= 0.18


def test_server_500s_are_retried_with_backoff(project, server):
    lua = srv_lua(project, server)
    assert lua("return Agent.new({}):chat('warm up')") == "echo: warm up"    # litellm's first call is slow
    server.script({"status": 500}, {"status": 503}, {"content": "finally"})
    r, n, gap1, gap2 = lua(RETRY_GAPS % "")
    assert (r, n) == ("finally", 3) and len(server.requests) == 4
    assert gap1 >= 0.09 and gap2 >= 0.18


def test_workflow_step_retries_wait_between_attempts(lua):
    t0 = time.perf_counter()
    v = lua("""
      local n = 0
      local r = Workflow.sequential({ steps = { { name = 'flaky', retry = { attempts = 3, backoff = 0.2 },
        run = function() n = n + 1 if n < 3 then error('flake ' .. n) end return 'ok' end } } }):execute()
      return { r.output, r.steps[1].attempts }
    """)
    assert v == ["ok", 3]
    assert time.perf_counter() - t0 >= 0.28


# -- the circuit breaker ------------------------------------------------------------

def test_circuit_breaker_unit_half_open_then_closed():
    changes: list[str] = []
    b = CircuitBreaker("p", threshold=2, reset_after=0.2, on_change=lambda n, s: changes.append(f"{n}:{s}"))
    b.failure()
    assert b.allow() and b.state == "closed"
    b.failure()
    assert b.state == "open" and not b.allow()
    time.sleep(0.25)
    assert b.allow() and b.state == "half_open"          # one trial call goes through
    b.failure()                                           # the trial failed: open again at once
    assert b.state == "open" and not b.allow()
    time.sleep(0.25)
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow()
    assert changes == ["p:opened", "p:opened", "p:closed"]


CIRCUIT = """
  local evs = {}
  Events.subscribe('circuit.*', function(ev) evs[#evs + 1] = ev.type .. ':' .. ev.data.provider end)
  local a = Agent.new({ %s retry = { attempts = 2, backoff = 0 } })
  local ok1, e1 = pcall(function() return a:chat('one') end)
  local ok2, e2 = pcall(function() return a:chat('two') end)      -- open: refused without a call
  Async.sleep(%s)
  local r3 = a:chat('three')                                       -- half-open: one trial, it succeeds
  local r4 = a:chat('four')                                        -- closed again
  Async.sleep(0.01)
  return { ok1, ok2, e2.code, r3, r4, evs }
"""


def test_circuit_opens_then_lets_a_trial_through_and_closes(project, server):
    server.script({"status": 500}, {"status": 500})
    lua = srv_lua(project, server, "circuit_threshold = 2\ncircuit_reset = 0.6\n")
    v = lua(CIRCUIT % ("", "0.8"))
    assert v == [False, False, 6008, "echo: three", "echo: four", ["circuit.opened:fake", "circuit.closed:fake"]]
    # two failed attempts, nothing while open, then the trial and the call after it
    assert [r["messages"][-1]["content"] for r in server.requests] == ["one", "one", "three", "four"]


def test_mock_provider_circuit_recovers_too(project):
    lua = Lua(make_rt(project, "[providers.mock]\ncircuit_threshold = 2\ncircuit_reset = 0.6\n"))
    v = lua(CIRCUIT % ("model = 'mock/x', responses = { { error = 'down', status = 503 }, "
                       "{ error = 'down', status = 503 }, 'back up' },", "0.8"))
    assert v == [False, False, 6008, "back up", "four", ["circuit.opened:mock", "circuit.closed:mock"]]


def test_failed_trial_opens_the_circuit_again(project, server):
    server.script({"status": 500}, {"status": 500}, {"status": 500})
    lua = srv_lua(project, server, "circuit_threshold = 2\ncircuit_reset = 0.6\n")
    v = lua("""
      local evs = {}
      Events.subscribe('circuit.*', function(ev) evs[#evs + 1] = ev.type end)
      local a = Agent.new({ retry = { attempts = 2, backoff = 0 } })
      local b = Agent.new({ retry = { attempts = 1 } })                -- same provider, same breaker
      pcall(function() return a:chat('one') end)
      Async.sleep(0.8)
      local ok, e = pcall(function() return b:chat('trial') end)       -- the trial fails: open again at once
      local ok2, e2 = pcall(function() return b:chat('refused') end)
      Async.sleep(0.01)
      return { ok, e.code == 6008, ok2, e2.code, evs }
    """)
    assert v == [False, False, False, 6008, ["circuit.opened", "circuit.opened"]]
    assert [r["messages"][-1]["content"] for r in server.requests] == ["one", "one", "trial"]


def test_open_circuit_stops_the_retries_of_the_same_call(project, server):
    server.script(*[{"status": 500}] * 4)
    lua = srv_lua(project, server, "circuit_threshold = 2\ncircuit_reset = 30\n")
    with pytest.raises(SpellFailed):
        lua("return Agent.new({ retry = { attempts = 4, backoff = 0 } }):chat('x')")
    assert len(server.requests) == 2          # the circuit opened after two failures


# -- rate limits ---------------------------------------------------------------------

def test_rate_limiter_waits_for_room_in_the_window():
    async def timed(lim: RateLimiter, n: int, tokens: int = 0) -> list[float]:
        t0 = time.perf_counter()
        out = []
        for _ in range(n):
            await lim.acquire(tokens)
            out.append(time.perf_counter() - t0)
        return out
    at = asyncio.run(timed(RateLimiter(rpm=2, window=0.4), 5))
    assert at[1] < 0.2 <= 0.35 <= at[2]          # two at once, the third waits for the window
    assert at[4] >= 0.75                          # and the fifth for the window after
    at = asyncio.run(timed(RateLimiter(tpm=100, window=0.4), 3, tokens=60))
    assert at[1] >= 0.35 and at[2] >= 0.75        # 60 + 60 tokens exceed 100 per window


def test_agent_rate_limit_delays_the_call_past_rpm(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', rate_limit = { rpm = 1 } })
      local first = a:chat('one')
      local ok, e = pcall(function() return Async.timeout(0.5, function() return a:chat('two') end) end)
      return { first, ok, e.code }
    """)
    assert v == ["one", False, 6007]             # the second call waits for the minute: the timeout hits


def test_agent_rate_limit_allows_calls_within_rpm(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', rate_limit = { rpm = 3 } })
      return Async.timeout(1, function() return { a:chat('1'), a:chat('2'), a:chat('3') } end)
    """)
    assert v == ["1", "2", "3"]


def test_agent_tpm_limit_delays_the_call(lua):
    v = lua("""
      local a = Agent.new({ model = 'mock/x', rate_limit = { tpm = 30 } })
      a:chat(string.rep('word ', 12))
      local ok, e = pcall(function() return Async.timeout(0.5, function() return a:chat(string.rep('word ', 12)) end) end)
      return { ok, e.code }
    """)
    assert v == [False, 6007]


def test_provider_rpm_from_config_delays_the_call(project):
    lua = Lua(make_rt(project, "[providers.mock]\nrpm = 1\n"))
    v = lua("""
      local a, b = Agent.new({ model = 'mock/x' }), Agent.new({ model = 'mock/y' })
      a:chat('one')
      local ok, e = pcall(function() return Async.timeout(0.5, function() return b:chat('two') end) end)
      return { ok, e.code }
    """)
    assert v == [False, 6007]                    # one limiter per provider, shared by its agents


def test_rate_limit_is_per_agent(lua):
    v = lua("""
      local a = Agent.new({ name = 'a', model = 'mock/x', rate_limit = { rpm = 1 } })
      local b = Agent.new({ name = 'b', model = 'mock/x', rate_limit = { rpm = 1 } })
      a:chat('1')
      return Async.timeout(1, function() return b:chat('2') end)
    """)
    assert v == "2"

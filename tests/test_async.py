"""Async: branches really overlap; timeout, race, retry, errors."""

from __future__ import annotations

import time

import pytest

from llmspell import SpellFailed


def test_all_runs_branches_concurrently(lua):
    t0 = time.perf_counter()
    v = lua("local fs = {} for i = 1, 20 do fs[i] = function() Async.sleep(0.3) return i * i end end\n"
            "return Async.all(fs)")
    elapsed = time.perf_counter() - t0
    assert v == [i * i for i in range(1, 21)]
    assert elapsed < 0.3 * 3   # twenty 0.3 s sleeps in sequence would take 6 s


def test_all_propagates_the_first_error(lua):
    v = lua("local ok, e = pcall(Async.all, { function() Async.sleep(0.05) error({code = 2003, message = 'x'}) end,"
            " function() Async.sleep(5) return 1 end })\nreturn {ok, e.code}")
    assert v == [False, 2003]


def test_race_returns_the_first(lua):
    assert lua("return Async.race({ function() Async.sleep(0.5) return 'slow' end,"
               " function() Async.sleep(0.01) return 'fast' end })") == "fast"


def test_timeout_raises_6007(lua):
    v = lua("local ok, e = pcall(Async.timeout, 0.05, function() Async.sleep(2) end)\nreturn {ok, e.code}")
    assert v == [False, 6007]
    assert lua("return Async.timeout(1, function() return 'in time' end)") == "in time"


def test_retry_until_success(lua):
    v = lua("local n = 0\nlocal r = Async.retry(function() n = n + 1 if n < 3 then error('flaky') end return n end,"
            " {attempts = 5, backoff = 0.01})\nreturn r")
    assert v == 3
    with pytest.raises(SpellFailed, match="always"):
        lua("Async.retry(function() error('always') end, {attempts = 2, backoff = 0.01})")


def test_waiting_calls_inside_user_coroutines(lua):
    v = lua("local co = coroutine.wrap(function(a) Async.sleep(0.01) local b = coroutine.yield(a + 1) "
            "Storage.set('co', b) return Storage.get('co') * 2 end)\nlocal x = co(1)\nreturn {x, co(20)}")
    assert v == [2, 40]


def test_branches_interleave(lua):
    lua("local log = {}\nAsync.all({ function() for i = 1, 3 do table.insert(log, 'a' .. i) Async.sleep(0.02) end end,"
        " function() Async.sleep(0.01) for i = 1, 3 do table.insert(log, 'b' .. i) Async.sleep(0.02) end end })\n"
        "print(table.concat(log, ','))")
    assert lua.lines == ["a1,b1,a2,b2,a3,b3"]

"""Hot reload in `llmspell serve`: a broken new version of a spell must leave the
old version's jobs live — they keep firing *after* the failed reload."""

from __future__ import annotations

import time

import pytest

from tests.daemon_harness import Served, done

V1 = """
Scheduler.register({ name = 'ver', trigger = { webhook = '/v' }, run = function(t) return 'v1:' .. t.trigger end })
Scheduler.register({ name = 'tick', trigger = { every = 0.2 }, run = function() return 'v1 tick' end })
"""
BROKEN = V1.replace("'v1:'", "'v2:'") + "\nlocal = broken\n"


@pytest.fixture
def served(project):
    (project / "r.lua").write_text(V1)
    s = Served(project, ["r.lua"])
    yield s
    s.stop()


def failed_reload(s: Served) -> dict:
    return s.wait(lambda: [r for r in s.get("/reloads").json() if not r["ok"] and r["spell"] == "r.lua"],
                  timeout=10)[0]


def test_broken_reload_keeps_the_old_jobs_firing(served, project):
    s = served
    assert s.post("/jobs/ver/trigger").status_code == 202
    assert s.wait(lambda: done(s.history("ver")))[0]["output"] == "v1:manual"
    time.sleep(0.3)                               # let the watcher settle before the rewrite
    (project / "r.lua").write_text(BROKEN)
    bad = failed_reload(s)
    assert "r.lua" in bad["error"] and "SyntaxError" in bad["error"]
    assert {j["name"] for j in s.get("/jobs").json()} == {"ver", "tick"}

    # fired after the failed reload was reported: manually, by its webhook, by its interval
    assert s.post("/jobs/ver/trigger").status_code == 202
    assert s.post("/v").status_code == 202
    fresh = s.wait(lambda: (lambda runs: runs if len(runs) >= 2 else None)(
        [r for r in done(s.history("ver")) if r["started"] > bad["at"]]))
    assert sorted(r["output"] for r in fresh) == ["v1:manual", "v1:webhook"]     # the old code answered
    ticks = s.wait(lambda: [r for r in done(s.history("tick")) if r["started"] > bad["at"]])
    assert ticks[0]["output"] == "v1 tick"


def test_fixed_version_after_a_broken_one_takes_over(served, project):
    s = served
    time.sleep(0.3)
    (project / "r.lua").write_text(BROKEN)
    bad = failed_reload(s)
    (project / "r.lua").write_text(V1.replace("'v1:'", "'v3:'"))
    s.wait(lambda: [r for r in s.get("/reloads").json() if r["ok"] and r["at"] > bad["at"]], timeout=10)
    assert s.post("/jobs/ver/trigger").status_code == 202
    assert s.wait(lambda: [r for r in done(s.history("ver")) if r["output"] == "v3:manual"])

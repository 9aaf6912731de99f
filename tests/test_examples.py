"""Every example spell runs as documented and shows what it promises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import cli

SPELLS = Path(__file__).resolve().parent.parent / "spells"

EXPECT = {
    "hello.lua": ["Hello, world! 6 * 7 = 42"],
    "tools_tour.lua": ["regions over 1000: eu, us", "quarterly-sales-report covers 3 regions", "diff: +1 -1",
                       "base64: bGxtc3BlbGw=", "2025-01-20T15:30Z in New York: 2025-01-20 10:30"],
    "storage_counter.lua": ["this spell has run 1 time(s)", "transaction failed: true (till is offline); apples_sold = nil",
                            "inventory: apples=2, pears=2, sold=3"],
    "events_and_hooks.lua": ["22 / 7 rounds to 3", "blocked: [5001 HookCancelled] environment_reader: environment access",
                             "event report.ready: weekly numbers", "audit: calculator, environment_reader; completed tool calls: 1"],
    "async_fanout.lua": ["squares: 1 4 9 16 25 36 49 64 81 100", "race winner: fast mirror",
                         "timeout: [6007 Timeout]", "succeeded after 3 attempts"],
    "custom_tool.lua": ["HELLO SPELLS! (2 words)", "bad input -> 2002 InvalidInput", "found by search: shout"],
    "agent_offline.lua": ['tool price_lookup  {"sku": "A1"}                -> 12.5',
                          "tool calculator    {\"expression\": \"3 * 12.5 + 2 * 7.25\"} -> 52",
                          "answer: 3 x A1 and 2 x B2 cost 52.0 EUR.", "echo: Thanks!"],
    "research_team.lua": ["# Brief: home batteries", "Key technical facts about home batteries"],
    "research_pipeline.lua": ["# heat pumps", "- COP of 3-4", "- payback 7-12 years", "Review: APPROVED",
                              "(completed, 4 steps, run "],
    "web_scraping.lua": ["give --param base_url="],
    "daemon_jobs.lua": ["registered: daily_report (cron 0 8 * * * Europe/Paris), ask (POST /hooks/ask)"],
}


def test_every_example_is_covered():
    assert {p.name for p in SPELLS.glob("*.lua")} == set(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_example_runs(project, name):
    shutil.copy(SPELLS / name, project / name)
    r = cli("run", name, cwd=project)
    assert r.returncode == 0, r.stderr
    for needle in EXPECT[name]:
        assert needle in r.stdout, (needle, r.stdout)


def test_storage_counter_counts_across_runs(project):
    shutil.copy(SPELLS / "storage_counter.lua", project / "c.lua")
    cli("run", "c.lua", cwd=project)
    assert "has run 2 time(s)" in cli("run", "c.lua", cwd=project).stdout


def test_web_scraping_demo_serves_its_own_pages():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(SPELLS / "web_scraping_demo.py")], capture_output=True, text=True,
                       timeout=60, cwd=SPELLS.parent)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[:4]] == ["/alpha.html", "/beta.html", "/delta.html", "/gamma.html"]
    assert all(" 200 " in ln for ln in lines[:4])
    assert lines[4] == "aggregate: Four pages on clean energy: solar, wind, heat pumps and batteries."

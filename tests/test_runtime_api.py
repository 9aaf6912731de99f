"""The public way to start runs (Runtime.open_spell / open_code) and what a run
owns by itself: default names per runtime, a bounded *_error retry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from llmspell import Runtime

NAMES = """local a = Agent.new({ model = 'mock/x' })
local w = Workflow.sequential({ steps = { { run = function() return 1 end } } })
return { a.name, w.name }"""


def test_default_names_are_numbered_per_runtime(project: Path) -> None:
    with Runtime(cwd=project) as one:
        assert one.run(NAMES) == ["agent_1", "sequential_1"]
        assert one.run(NAMES) == ["agent_2", "sequential_2"]
    with Runtime(cwd=project) as two:      # a new runtime starts over, whatever ran before
        assert two.run(NAMES) == ["agent_1", "sequential_1"]


@pytest.mark.parametrize("engine,code", [
    ("lua", """local n = 0
Hooks.register("workflow_error", function(ctx) n = n + 1; return { action = "retry" } end)
local wf = Workflow.sequential({ name = "w", steps = { { name = "s", run = function() error("boom") end } } })
local ok, err = pcall(function() return wf:execute({}) end)
return { ok, n, err.code }"""),
    ("js", """let n = 0;
Hooks.register("workflow_error", (ctx) => { n += 1; return { action: "retry" }; });
const wf = Workflow.sequential({ name: "w", steps: [{ name: "s", run: () => { throw new Error("boom"); } }] });
try { await wf.execute({}); return [true, n]; } catch (e) { return [false, n, e.code]; }"""),
])
def test_a_hook_that_always_retries_a_workflow_gives_up(rt: Runtime, engine: str, code: str) -> None:
    ok, calls, err = rt.run(code, engine)
    assert ok is False and calls == 5 and err == 3004


def test_open_spell_hands_scheduler_jobs_to_the_sink(project: Path) -> None:
    spell = project / "jobs.lua"
    spell.write_text("""Scheduler.register({ name = "nightly", trigger = { cron = "0 3 * * *" },
                       run = function() return params.x end })
return params.x""")
    got: list[tuple[Any, str]] = []
    with Runtime(cwd=project) as rt:
        run = rt.open_spell(spell, params={"x": 7}, job_sink=lambda r, spec: got.append((r, spec["name"])))
        res = asyncio.run(run.execute())
    assert res.value == 7 and [name for _, name in got] == ["nightly"] and got[0][0] is run
    assert [j["name"] for j in res.scheduler_jobs] == ["nightly"]


def test_open_spell_names_what_is_wrong(project: Path) -> None:
    from llmspell import LLMSpellError
    with Runtime(cwd=project) as rt:
        with pytest.raises(LLMSpellError, match="spell file not found"):
            rt.open_spell(project / "missing.lua")
        (project / "notes.txt").write_text("x")
        with pytest.raises(LLMSpellError, match="--engine lua|js"):
            rt.open_spell(project / "notes.txt")

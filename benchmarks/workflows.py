"""Workflow numbers for this machine. Run: python benchmarks/workflows.py

(1) per-step overhead of a 1,000-step sequential workflow of no-op `run` steps
(2) wall time of map_reduce over 1,000 items whose map step sleeps 10 ms, max_concurrency 100
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from llmspell import Runtime


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        project = Path(d)
        (project / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\n')
        os.chdir(project)
        rt = Runtime(cwd=project)
        seq = ("local steps = {{}} for i = 1, {n} do steps[i] = {{ name = 's' .. i, run = function() end }} end\n"
               "local wf = Workflow.sequential({{ name = 'bench', steps = steps }})\n"
               "local t0 = os.clock()\nlocal r = wf:execute()\nassert(#r.steps == {n})")
        rt.run(seq.format(n=50))   # warm-up
        t0 = time.perf_counter()
        rt.run(seq.format(n=1000))
        per_step_ms = (time.perf_counter() - t0) * 1000 / 1000

        mr = ("local items = {} for i = 1, 1000 do items[i] = i end\n"
              "local wf = Workflow.map_reduce({ items = items, max_concurrency = 100,\n"
              "  map = { run = function(ctx) Async.sleep(0.01) return ctx.item end },\n"
              "  reduce = function(rs) return #rs end })\nreturn wf:execute().output")
        t0 = time.perf_counter()
        assert rt.run(mr) == 1000
        wall = time.perf_counter() - t0
        rt.close()
    print(f"(1) sequential workflow, 1,000 no-op run steps: {per_step_ms:.3f} ms/step   "
          "target <= 0.5 ms/step (rs-llmspell reports 15-25 ms)")
    print(f"(2) map_reduce 1,000 items x 10 ms sleep, max_concurrency 100: {wall:.3f} s   target <= 0.4 s")


if __name__ == "__main__":
    main()

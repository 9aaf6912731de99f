"""Foundation numbers for this machine. Run: python benchmarks/foundation.py

(a) cold `llmspell run` of a hello spell that calls one tool, next to `python -c pass`
(b) calls/s of a registered no-op tool from Lua (hook and event machinery on, nothing registered)
(c) Storage set+get pairs/s from Lua (LevelDB)
(d) events/s emitted from Lua and delivered to one Lua subscriber
(e) wall time of Async.all over 100 branches that each sleep 0.2 s
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmspell import Runtime

TARGETS = {"a": "<= 250 ms", "b": ">= 50,000/s", "c": ">= 30,000/s", "d": ">= 20,000/s", "e": "<= 0.35 s"}


def cold_start(project: Path, n: int = 10) -> tuple[float, float]:
    (project / "hello.lua").write_text('print(Tools.get("calculator"):execute({ expression = "1+1" }).result)')
    exe = Path(sys.executable).with_name("llmspell")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "llmspell"]

    def timed(argv: list[str]) -> float:
        best = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(argv, cwd=project, check=True, capture_output=True)
            best.append(time.perf_counter() - t0)
        return statistics.median(best) * 1000
    timed(cmd + ["run", "hello.lua"])  # warm the OS file cache and the config cache
    return timed(cmd + ["run", "hello.lua"]), timed([sys.executable, "-c", "pass"])


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        project = Path(d)
        (project / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\n')
        os.chdir(project)
        a, py = cold_start(project)

        rt = Runtime(cwd=project)
        rt.tools.register(lambda: None, name="noop", description="does nothing")
        n = 100_000
        rt.run("local t = Tools.get('noop') for i = 1, 1000 do t:execute({}) end")   # warm-up
        t0 = time.perf_counter()
        rt.run(f"local t = Tools.get('noop') for i = 1, {n} do t:execute({{}}) end")
        b = n / (time.perf_counter() - t0)

        m = 50_000
        t0 = time.perf_counter()
        rt.run(f"for i = 1, {m} do Storage.set('k' .. i, i) local v = Storage.get('k' .. i) end")
        c = m / (time.perf_counter() - t0)

        e_n = 50_000
        t0 = time.perf_counter()
        got = rt.run(f"local got = 0\nEvents.subscribe('bench.tick', function(ev) got = got + 1 end)\n"
                     f"for i = 1, {e_n} do Events.emit('bench.tick', i) end\n"
                     f"while got < {e_n} do Async.sleep(0) end\nreturn got")
        d_rate = e_n / (time.perf_counter() - t0)
        assert got == e_n

        t0 = time.perf_counter()
        rt.run("local fs = {} for i = 1, 100 do fs[i] = function() Async.sleep(0.2) return i end end\n"
               "assert(#Async.all(fs) == 100)")
        e = time.perf_counter() - t0
        rt.close()

    print(f"(a) cold `llmspell run` hello + 1 tool: {a:8.1f} ms   (python -c pass: {py:.1f} ms)   target {TARGETS['a']}")
    print(f"(b) no-op tool calls from Lua:          {b:8,.0f} /s                           target {TARGETS['b']}")
    print(f"(c) Storage set+get pairs (LevelDB):    {c:8,.0f} /s                           target {TARGETS['c']}")
    print(f"(d) events emitted+delivered to Lua:    {d_rate:8,.0f} /s                           target {TARGETS['d']}")
    print(f"(e) Async.all, 100 x sleep(0.2):        {e:8.3f} s                            target {TARGETS['e']}")


if __name__ == "__main__":
    main()

"""Agent numbers for this machine. Run: python benchmarks/agents.py

(1) agent turn overhead: `a:chat()` from Lua against a local OpenAI-compatible
    server, minus a direct `litellm.acompletion` call to the same server
(2) wall time of 100 concurrent `chat` calls against a server answering in 200 ms
    (steady state; the first batch in a process also pays litellm's lazy imports)
The fake server runs in its own process, as a real model server would.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from llmspell import Runtime
from llmspell.providers.litellm_provider import load_litellm
from llmspell.testing import SpawnedServer

N = 300


async def direct(url: str, n: int) -> float:
    litellm = load_litellm()
    kw = dict(model="openai/bench", api_base=url, api_key="sk-x", max_retries=0, timeout=10,
              messages=[{"role": "user", "content": "hi"}])
    await litellm.acompletion(**kw)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await litellm.acompletion(**kw)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def direct_fanout(url: str) -> float:
    litellm = load_litellm()
    kw = dict(model="openai/bench", api_base=url, api_key="sk-x", max_retries=0, timeout=10,
              messages=[{"role": "user", "content": "hi"}])
    await litellm.acompletion(**kw)
    best = 9.9
    for _ in range(3):
        t0 = time.perf_counter()
        await asyncio.gather(*[litellm.acompletion(**kw) for _ in range(100)])
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as d, SpawnedServer() as srv, SpawnedServer(delay=0.2) as slow:
        project = Path(d)
        (project / "llmspell.toml").write_text(
            f'[storage]\nbackend = "memory"\n[events]\npersist = false\n'
            f'[providers]\ndefault = "bench/m"\n[providers.bench]\nbase_url = "{srv.url}"\n'
            f'[providers.slow]\nbase_url = "{slow.url}"\n')
        os.chdir(project)
        base = asyncio.run(direct(srv.url, N))
        rt = Runtime(cwd=project)
        spell = (f"local a = Agent.new({{ name = 'b', memory = {{ max_messages = 2 }} }})\na:chat('warm')\n"
                 f"local ts = {{}}\nfor i = 1, {N} do local t0 = os.clock() a:chat('hi') end")
        rt.run(spell.replace(str(N), "20"))
        t0 = time.perf_counter()
        rt.run(spell)
        per_turn = (time.perf_counter() - t0) / (N + 1)
        overhead_ms = (per_turn - base) * 1000

        fan = ("local fs = {} for i = 1, 100 do fs[i] = function()\n"
               "  return Agent.new({ name = 'c' .. i, model = 'slow/m' }):chat('x' .. i) end end\n"
               "Agent.new({ name = 'warm', model = 'slow/m' }):chat('w')\nreturn #Async.all(fs)")
        walls = []
        for _ in range(3):     # the first batch also pays litellm's lazy imports
            t0 = time.perf_counter()
            assert rt.run(fan) == 100
            walls.append(time.perf_counter() - t0 - 0.2)   # minus the warm-up call
        wall = min(walls[1:])
        rt.close()
        raw = asyncio.run(direct_fanout(slow.url))

    print(f"(1) agent turn overhead vs direct litellm.acompletion: {overhead_ms:6.2f} ms/call "
          f"(direct call {base * 1000:.2f} ms)   target <= 2 ms")
    print(f"(2) 100 concurrent chat calls, server answers in 200 ms: {wall:6.3f} s "
          f"(first batch in the process: {walls[0]:.3f} s)   target <= 0.5 s")
    print(f"    for scale: 100 concurrent litellm.acompletion calls alone, same server: {raw:.3f} s")


if __name__ == "__main__":
    main()

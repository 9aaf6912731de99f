"""Foundation numbers for this machine, Lua and JavaScript side by side.
Run: python benchmarks/foundation.py

(a) cold `llmspell run` of a hello spell that calls one tool, next to `python -c pass`
(b) calls/s of a registered no-op tool invoked from the spell (hooks and events on, nothing registered)
(c) Storage set+get pairs/s from the spell (LevelDB)
(d) events/s emitted from the spell and delivered to one subscriber in the spell
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

HELLO = {"lua": 'print(Tools.get("calculator"):execute({ expression = "1+1" }).result)',
         "js": 'print((await Tools.get("calculator").execute({ expression: "1+1" })).result);'}
CODE = {
    "lua": {
        "warm": "local t = Tools.get('noop') for i = 1, 1000 do t:execute({}) end",
        "b": "local t = Tools.get('noop') for i = 1, {n} do t:execute({{}}) end",
        "c": "for i = 1, {n} do Storage.set('k' .. i, i) local v = Storage.get('k' .. i) end",
        "d": ("local got = 0\nEvents.subscribe('bench.tick', function(ev) got = got + 1 end)\n"
              "for i = 1, {n} do Events.emit('bench.tick', i) end\nwhile got < {n} do Async.sleep(0) end\nreturn got"),
        "e": ("local fs = {{}} for i = 1, 100 do fs[i] = function() Async.sleep(0.2) return i end end\n"
              "assert(#Async.all(fs) == 100)"),
    },
    "js": {
        "warm": "const t = Tools.get('noop'); for (let i = 0; i < 1000; i++) await t.execute({});",
        "b": "const t = Tools.get('noop'); for (let i = 0; i < {n}; i++) await t.execute({{}});",
        "c": "for (let i = 0; i < {n}; i++) {{ await Storage.set('k' + i, i); await Storage.get('k' + i); }}",
        "d": ("let got = 0; Events.subscribe('bench.tick', (ev) => {{ got += 1; }});\n"
              "for (let i = 0; i < {n}; i++) Events.emit('bench.tick', i);\n"
              "while (got < {n}) await Async.sleep(0);\nreturn got;"),
        "e": "const r = await Async.all(Array.from({{ length: 100 }}, (_, i) => () => Async.sleep(0.2).then(() => i)));",
    },
}
N = {"b": 50_000, "c": 30_000, "d": 30_000}


def cold_start(project: Path, engine: str, n: int = 10) -> float:
    name = f"hello.{engine}"
    (project / name).write_text(HELLO[engine])
    exe = Path(sys.executable).with_name("llmspell")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "llmspell"]
    # An installed package has its bytecode; an editable checkout under
    # PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise compile every
    # module from source on every run and measure the compiler, not llmspell.
    import compileall
    import llmspell
    compileall.compile_dir(str(Path(llmspell.__file__).parent), quiet=1)
    subprocess.run(cmd + ["run", name], cwd=project, check=True, capture_output=True)   # warm caches
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd + ["run", name], cwd=project, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(project: Path, engine: str) -> dict[str, float]:
    code = CODE[engine]
    res = {"a": cold_start(project, engine)}
    rt = Runtime(cwd=project)
    rt.tools.register(lambda: None, name="noop", description="does nothing")
    rt.run(code["warm"], engine)
    for key in ("b", "c", "d"):
        t0 = time.perf_counter()
        rt.run(code[key].format(n=N[key]), engine)
        res[key] = N[key] / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    rt.run(code["e"].format(), engine)
    res["e"] = time.perf_counter() - t0
    rt.close()
    return res


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        project = Path(d)
        (project / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\n')
        os.chdir(project)
        t0 = time.perf_counter()
        for _ in range(10):
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        py = (time.perf_counter() - t0) * 100
        lua, js = measure(project, "lua"), measure(project, "js")
    rows = [("a", "cold `llmspell run` hello + 1 tool (ms)", "{:.1f}"),
            ("b", "no-op tool calls per second", "{:,.0f}"),
            ("c", "Storage set+get pairs per second", "{:,.0f}"),
            ("d", "events emitted+delivered per second", "{:,.0f}"),
            ("e", "Async.all, 100 x sleep(0.2) (s)", "{:.3f}")]
    print(f"{'measure':44} {'lua':>10} {'js':>10}   target")
    for key, label, fmt in rows:
        print(f"({key}) {label:40} {fmt.format(lua[key]):>10} {fmt.format(js[key]):>10}   {TARGETS[key]}")
    print(f"    python -c pass: {py:.1f} ms")


if __name__ == "__main__":
    main()

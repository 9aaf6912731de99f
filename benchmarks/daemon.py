"""Daemon numbers for this machine: a real `llmspell serve` driven over loopback HTTP.
Run: python benchmarks/daemon.py

The daemon runs as a user would start it (its own process, a free 127.0.0.1 port,
LevelDB storage, `[serve] history` left at its default) with one Lua spell:
a webhook job (overlap = "allow") that returns at once and a job fired by hand
(`POST /jobs/manual/trigger`) whose first act is to read the wall clock through a tool.

(1) trigger-to-start latency on a warm daemon, one firing at a time: from the client's
    send time to the run's `started` (history) and to the job's own clock reading
(2) runs/s: N manual triggers from 4 concurrent clients, until all N runs have ended
    (counted on /metrics — the history keeps only the newest 200 — timed by the
    newest `finished` in the history)
(3) webhooks accepted per second, 2,000 small JSON POSTs from 50 concurrent clients
    (one connection each), and the p99 latency of those requests
(4) /health latency while (3) runs, polled every 100 ms on a connection of its own

Client and daemon share this machine's cores: "daemon CPU" is the daemon's share of
the wall time of (3) (100% = one core busy), so a reader can tell which side limited it,
and the daemon's CPU per webhook or run tells what one free core would allow.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

TARGETS = {"1": "p50 < 5 ms", "2": "-", "3": ">= 2,000/s", "3p": "p99 < 50 ms", "4": "-"}

SPELL = """
local clock = Tools.get("date_time_handler")
Scheduler.register({ name = "hook", trigger = { webhook = "/hooks/bench" }, overlap = "allow",
  run = function(t) return t.body and t.body.i end })
-- nothing emits bench.never: this job runs only when fired by hand
Scheduler.register({ name = "manual", trigger = { event = "bench.never" }, overlap = "allow",
  run = function(t) return clock:execute({}).result.timestamp end })
"""
LATENCY_RUNS = 150           # + warm-up; under the 200 runs a job's history keeps
N_RUNS = 500
N_RUN_CLIENTS = 4
N_HOOKS = 2000
N_HOOK_CLIENTS = 50
N_SHARED = 1000              # the same through one shared httpx pool (client-bound, see webhook_rate)
BUDGET = 45.0                # seconds for everything after the daemon is up


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))] if s else float("nan")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Daemon:
    """`llmspell serve bench.lua` in `project`; `stop` always ends it (SIGTERM, then kill)."""

    def __init__(self, project: Path) -> None:
        (project / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\n\n[serve]\nport = 0\n')
        (project / "bench.lua").write_text(SPELL)
        exe = Path(sys.executable).with_name("llmspell")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "llmspell"]
        self.log = project / "serve.log"
        self._log_file = self.log.open("w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd + ["serve", "bench.lua"], cwd=project, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        state = project / ".llmspell" / "serve.json"
        deadline = time.monotonic() + 20
        try:
            while True:
                if state.exists():
                    try:
                        self.port = json.loads(state.read_text())["port"]
                        break
                    except (ValueError, KeyError):
                        pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the daemon did not start:\n" + self.tail())
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        self.start_ms = (time.perf_counter() - t0) * 1000
        self.url = f"http://127.0.0.1:{self.port}"

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_file.close()
        return self.proc.returncode


async def completed(c: httpx.AsyncClient, job: str) -> dict[str, float]:
    """Runs of `job` ended so far, by status, from /metrics."""
    text = (await c.get("/metrics")).text
    out: dict[str, float] = {}
    for m in re.finditer(rf'^llmspell_job_runs_total{{job="{job}",status="(\w+)"}} (\S+)$', text, re.MULTILINE):
        out[m.group(1)] = float(m.group(2))
    return out


async def wait_ended(c: httpx.AsyncClient, job: str, n: float, timeout: float) -> dict[str, float]:
    """Poll until `n` runs of `job` have ended (any status); the counts by status."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await completed(c, job)
        if sum(counts.values()) >= n or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.02)


async def trigger_latency(c: httpx.AsyncClient) -> tuple[list[float], list[float]]:
    """(1): one firing at a time; ms from send to the run's `started`, and to the job's clock."""
    for _ in range(20):                                          # warm-up: tool import, connections
        (await c.post("/jobs/manual/trigger", json={})).raise_for_status()
        await asyncio.sleep(0.005)
    sent: dict[str, float] = {}
    for i in range(LATENCY_RUNS):
        t = time.time()
        r = await c.post("/jobs/manual/trigger", json={"i": i})
        r.raise_for_status()
        sent[r.json()["run_id"]] = t
        await asyncio.sleep(0.005)                               # let it finish: no overlap
    await wait_ended(c, "manual", 20 + LATENCY_RUNS, 10)
    runs = (await c.get("/jobs/manual/history?limit=200")).json()
    to_start, to_code = [], []
    for rec in runs:
        t = sent.get(rec["run_id"])
        if t is None:
            continue
        to_start.append((rec["started"] - t) * 1000)
        if rec["status"] == "completed" and isinstance(rec.get("output"), (int, float)):
            to_code.append((rec["output"] - t) * 1000)
    if len(to_start) != LATENCY_RUNS:
        raise RuntimeError(f"(1): {len(to_start)} of {LATENCY_RUNS} runs found in the history")
    return to_start, to_code


async def run_rate(c: httpx.AsyncClient, pid: int) -> dict[str, Any]:
    """(2): N manual triggers from a few clients; runs/s until the last one ended."""
    before = sum((await completed(c, "manual")).values())
    left = N_RUNS
    rejected = 0

    async def client() -> None:
        nonlocal left, rejected
        while left > 0:
            left -= 1
            while True:
                r = await c.post("/jobs/manual/trigger", json={})
                if r.status_code == 202:
                    break
                if r.status_code != 429:
                    r.raise_for_status()
                rejected += 1                                    # full: try again shortly
                await asyncio.sleep(0.01)

    cpu0 = cpu_seconds(pid)
    t0 = time.time()
    await asyncio.gather(*(client() for _ in range(N_RUN_CLIENTS)))
    sent = time.time() - t0
    counts = await wait_ended(c, "manual", before + N_RUNS, 30)
    cpu1 = cpu_seconds(pid)          # includes answering the polls of /metrics
    ended = sum(counts.values()) - before
    runs = (await c.get("/jobs/manual/history?limit=200")).json()
    last = max(r["finished"] for r in runs)
    return {"runs_s": ended / (last - t0), "accept_s": N_RUNS / sent, "ended": ended,
            "failed": counts.get("failed", 0), "rejected": rejected,
            "cpu_ms": (cpu1 - cpu0) * 1000 / ended if cpu0 is not None and cpu1 is not None and ended else None}


class AioHook:
    """One aiohttp connection posting webhooks: a lighter client than httpx, so on a
    2-core machine the measure shows the daemon rather than the client's CPU."""

    def __init__(self, url: str) -> None:
        import aiohttp
        self.url = url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1),
                                             timeout=aiohttp.ClientTimeout(total=20))

    async def get(self, path: str) -> Any:
        async with self.session.get(self.url + path) as r:
            await r.read()
            return r

    async def post(self, path: str, json: Any) -> Any:
        import aiohttp
        try:
            async with self.session.post(self.url + path, json=json) as r:
                await r.read()
                return SimpleNamespace(status_code=r.status)
        except aiohttp.ClientError as e:
            return SimpleNamespace(status_code=type(e).__name__)

    async def aclose(self) -> None:
        await self.session.close()


async def post_hooks(clients: list[Any], n: int) -> dict[str, Any]:
    """`n` webhook POSTs, each client sending one at a time; latencies (ms) and statuses."""
    lat: list[float] = []
    statuses: dict[Any, int] = {}
    left = n

    async def client(h: Any) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t = time.perf_counter()
            try:
                r = await h.post("/hooks/bench", json={"i": left, "who": "bench"})
                key: Any = r.status_code
            except httpx.HTTPError as e:
                key = type(e).__name__
            lat.append((time.perf_counter() - t) * 1000)
            statuses[key] = statuses.get(key, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client(h) for h in clients))
    return {"lat": lat, "statuses": statuses, "wall": time.perf_counter() - t0}


async def webhook_rate(c: httpx.AsyncClient, url: str, pid: int) -> dict[str, Any]:
    """(3) and (4): 2,000 POSTs from 50 clients, /health polled every 100 ms meanwhile.

    Each client is one aiohttp connection (50 in all), opened before the clock
    starts. One AsyncClient sharing a pool of 50 is measured
    after, on fewer requests: httpcore 1.0's pool walks all its connections on every
    request and response (encode/httpx#3215), so there the client runs out of CPU first."""
    running = True
    health: list[float] = []

    async def poll_health() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as hc:
            while running:
                t = time.perf_counter()
                (await hc.get("/health")).raise_for_status()
                health.append((time.perf_counter() - t) * 1000)
                await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))

    before = sum((await completed(c, "hook")).values())
    clients = [AioHook(url) for _ in range(N_HOOK_CLIENTS)]
    try:
        await asyncio.gather(*(h.get("/health") for h in clients))          # connections open
        poller = asyncio.create_task(poll_health())
        cpu0, pcpu0 = cpu_seconds(pid), time.process_time()
        res = await post_hooks(clients, N_HOOKS)
        cpu1, pcpu1 = cpu_seconds(pid), time.process_time()
        running = False
        await poller
    finally:
        await asyncio.gather(*(h.aclose() for h in clients))
    accepted = res["statuses"].get(202, 0)
    t1 = time.perf_counter()
    counts = await wait_ended(c, "hook", before + accepted, 30)
    drained = time.perf_counter() - t1

    limits = httpx.Limits(max_connections=N_HOOK_CLIENTS, max_keepalive_connections=N_HOOK_CLIENTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=20) as shared:
        await asyncio.gather(*(shared.get("/health") for _ in range(N_HOOK_CLIENTS)))
        pooled = await post_hooks([shared] * N_HOOK_CLIENTS, N_SHARED)
    lat = res["lat"]
    wall = res["wall"]
    return {"accepted_s": accepted / wall, "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat),
            "statuses": res["statuses"], "wall": wall, "health": health,
            "daemon_cpu": (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None,
            "daemon_cpu_ms": (cpu1 - cpu0) * 1000 / accepted if cpu0 is not None and cpu1 is not None and accepted
            else None,
            "client_cpu": (pcpu1 - pcpu0) / wall,
            "hook_ended": sum(counts.values()) - before, "hook_failed": counts.get("failed", 0),
            "drain_s": drained,
            "shared_s": pooled["statuses"].get(202, 0) / pooled["wall"], "shared_p99": pct(pooled["lat"], 99)}


async def measure(d: Daemon) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        (await c.get("/health")).raise_for_status()
        res: dict[str, Any] = {}
        res["to_start"], res["to_code"] = await trigger_latency(c)
        res["runs"] = await run_rate(c, d.proc.pid)
        res["hooks"] = await webhook_rate(c, d.url, d.proc.pid)
        return res


def report(d: Daemon, res: dict[str, Any]) -> None:
    ts, tc, runs, hk = res["to_start"], res["to_code"], res["runs"], res["hooks"]
    rows = [
        ("(1) trigger -> run start, p50 / p99 (ms)", f"{pct(ts, 50):.2f} / {pct(ts, 99):.2f}", TARGETS["1"]),
        ("    trigger -> job code, p50 / p99 (ms)", f"{pct(tc, 50):.2f} / {pct(tc, 99):.2f}", ""),
        (f"(2) manual runs/s, {N_RUNS} from {N_RUN_CLIENTS} clients", f"{runs['runs_s']:,.0f}", TARGETS["2"]),
        (f"(3) webhooks accepted/s, {N_HOOK_CLIENTS} clients", f"{hk['accepted_s']:,.0f}", TARGETS["3"]),
        ("    webhook request p50 / p99 (ms)", f"{hk['p50']:.1f} / {hk['p99']:.1f}", TARGETS["3p"]),
        (f"(4) /health during (3), p99 / max (ms), n={len(hk['health'])}",
         f"{pct(hk['health'], 99):.1f} / {max(hk['health'], default=float('nan')):.1f}", TARGETS["4"]),
    ]
    print(f"{'measure':52} {'result':>16}   target")
    for label, value, target in rows:
        print(f"{label:52} {value:>16}   {target}")

    def per(ms: float | None) -> str:
        return f"{ms:.2f} ms (<= {1000 / ms:,.0f}/s on one free core)" if ms else "?"
    cpu = f"{hk['daemon_cpu']:.0%}" if hk["daemon_cpu"] is not None else "?"
    print(f"    daemon up (spawn -> serve.json): {d.start_ms:.0f} ms")
    print(f"    (2) triggers answered {runs['accept_s']:,.0f}/s; {runs['ended']:.0f} runs ended, "
          f"{runs['failed']:.0f} failed, {runs['rejected']} x 429 retried; daemon CPU per run {per(runs['cpu_ms'])}")
    print(f"    (3) statuses {hk['statuses']} in {hk['wall']:.2f} s, max {hk['max']:.0f} ms; "
          f"{hk['hook_ended']:.0f} hook runs ended ({hk['hook_failed']:.0f} failed) "
          f"{hk['drain_s']:.2f} s after the last answer")
    print(f"        daemon CPU {cpu} of the wall time, client CPU {hk['client_cpu']:.0%}; "
          f"daemon CPU per webhook {per(hk['daemon_cpu_ms'])}")
    print(f"        one AsyncClient sharing a pool of {N_HOOK_CLIENTS} instead ({N_SHARED} POSTs): "
          f"{hk['shared_s']:,.0f}/s, p99 {hk['shared_p99']:.0f} ms (client-bound: httpcore pool bookkeeping)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp))
        try:
            res = asyncio.run(asyncio.wait_for(measure(d), BUDGET))
        except BaseException:
            print("daemon log (tail):\n" + d.tail(), file=sys.stderr)
            raise
        finally:
            rc = d.stop()
        report(d, res)
        if rc != 0:
            print(f"    note: the daemon exited with {rc} on SIGTERM:\n{d.tail(5)}")


if __name__ == "__main__":
    main()

"""D12: event data is bounded on the host side; S2: secrets in tool inputs never
reach the event history."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmspell import Runtime


def test_sec_d12_a_spells_oversized_event_is_refused(rt: Runtime) -> None:
    v = rt.run("""
      local ok, e = pcall(Events.emit, "big", { s = string.rep("x", 2e6) })
      local ok2 = pcall(Events.emit, "small", { s = string.rep("x", 1000) })
      return { ok, e.code, e.message, ok2 }""")
    assert v[0] is False and v[1] == 5005 and "max_payload" in v[2] and v[3] is True


def test_sec_d12_the_limit_is_configurable(project: Path) -> None:
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[events]\nmax_payload = "4MB"\n')
    with Runtime(cwd=project) as rt:
        assert rt.run('return Events.emit("big", { s = string.rep("x", 2e6) }) ~= nil') is True


def test_sec_d12_runtime_events_leave_oversized_data_out(rt: Runtime, project: Path) -> None:
    v = rt.run("""
      Tools.get("file_writer"):execute({ path = "big.txt", content = string.rep("y", 3e6) })
      local evs = Events.replay({ type = "tool.started" })
      return evs[#evs].data""")
    assert set(v) == {"omitted"} and "max_payload" in v["omitted"]
    assert (project / "big.txt").stat().st_size == 3_000_000      # the tool itself still got its input


def test_sec_d12_many_large_emits_stay_bounded(project: Path) -> None:
    """The findings' loop: 150 emits of 20 MB. Each is refused before the host keeps a copy."""
    (project / "llmspell.toml").write_text('[storage]\nbackend = "leveldb"\npath = ".llmspell/data"\n'
                                           '[security]\nmax_memory = "256MB"\n')
    code = ("import resource\nfrom pathlib import Path\nfrom llmspell import Runtime\n"
            "rt = Runtime(cwd=Path('.'))\n"
            "n = rt.run('local s = string.rep(\"x\", 20e6) local n = 0 for i = 1, 150 do "
            "if not pcall(Events.emit, \"e.big\", { s = s }) then n = n + 1 end end return n')\n"
            "rt.close()\n"
            "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    refused, peak_mb = map(int, r.stdout.split())
    assert refused == 150 and peak_mb < 600, f"refused {refused}, peak RSS {peak_mb} MB"


def test_sec_s2_secrets_in_tool_inputs_are_masked_in_events(rt: Runtime) -> None:
    v = rt.run("""
      local seen
      Events.subscribe("tool.started", function(ev) seen = ev.data.input end)
      pcall(function() return Tools.get("http_client"):execute({ url = "http://127.0.0.1:9/x",
            headers = { Authorization = "Bearer sekrit-1", ["X-Api-Key"] = "sekrit-2", Accept = "text/plain" } }) end)
      Async.sleep(0.05)                      -- subscribers run on the scheduler
      local evs = Events.replay({ type = "tool.started" })
      return { stored = evs[#evs].data.input.headers, seen = seen.headers }""")
    for headers in (v["stored"], v["seen"]):
        assert headers["Authorization"] == "********" and headers["X-Api-Key"] == "********"
        assert headers["Accept"] == "text/plain"

"""Daemon limits that hold (findings D14, D15, D16, S4 and the serve "unclear errors"):
the real `llmspell serve` on a free loopback port, driven over HTTP and signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmspell import Runtime
from llmspell.errors import LLMSpellError
from tests.conftest import cli
from tests.daemon_harness import Served, done


def records(project: Path, job: str) -> dict[str, dict[str, Any]]:
    """The job history in storage, by run id (read once the daemon has stopped)."""
    (project / "llmspell.toml").write_text("")
    rt = Runtime(cwd=project)
    try:
        return {v["run_id"]: v for _, v in rt.kv("jobs").items(job + "\x1f")}
    finally:
        rt.close()


def health_answers(s: Served, within: float) -> bool:
    try:
        return httpx.get(s.url + "/health", timeout=within).status_code == 200
    except httpx.TimeoutException:
        return False


def stopped_within(s: Served, seconds: float) -> tuple[int, str]:
    s.proc.send_signal(signal.SIGTERM)
    try:
        _, err = s.proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        s.proc.communicate()
        raise AssertionError(f"SIGTERM ignored for {seconds}s") from None
    return s.proc.returncode, err


# -- D14: a job's time limit is its own firing's, never the spell's ---------------------

SPINNER = """
Scheduler.register({ name = 'spinner', trigger = { webhook = '/spin' }, timeout = 2, run = function()
  Async.sleep(1) while true do end end })
Scheduler.register({ name = 'quick', trigger = { webhook = '/quick' }, run = function() return 'quick' end })
"""


def test_d14_another_jobs_end_does_not_lift_the_spinners_limit(serve, project):
    s = serve({"spin.lua": SPINNER}, toml='[security]\nmax_memory = "64MB"\nmax_execution_time = "3s"\n')
    t0 = time.time()
    assert s.post("/spin").status_code == 202
    time.sleep(0.3)
    assert s.post("/quick").status_code == 202          # ends at once: it used to reset the spell-wide limit
    assert s.wait(lambda: done(s.history("quick")))
    while time.time() - t0 < 4.5:                       # the spin (1 s → 2 s) may delay an answer, never stop it
        assert health_answers(s, within=5), "the daemon froze"
        time.sleep(0.3)
    rec = s.wait(lambda: done(s.history("spinner"), "failed"), timeout=5)[0]
    assert rec["error"]["code"] == 4004
    assert rec["error"]["message"] == "job 'spinner' exceeded its 2s time limit"      # not "(300s)" or "(3s)"
    assert 1.9 < rec["duration_ms"] / 1000 < 3.5
    code, err = stopped_within(s, 15)
    assert code == 0 and "Traceback" not in err


def test_d14_a_branch_over_its_limit_does_not_stop_another_job(serve):
    s = serve({"branch.lua": """
      Scheduler.register({ name = 'spinner', trigger = { webhook = '/spin' }, timeout = 2, run = function()
        Async.all({ function() Async.sleep(1) while true do end end, function() Async.sleep(30) end }) end })
      Scheduler.register({ name = 'busy', trigger = { webhook = '/busy' }, timeout = 30, run = function()
        for i = 1, 60 do Async.sleep(0.05) local x = 0 for j = 1, 200000 do x = x + j end end
        return 'ok' end })
    """})
    assert s.post("/spin").status_code == 202
    time.sleep(0.3)
    assert s.post("/busy").status_code == 202
    rec = s.wait(lambda: done(s.history("spinner"), "failed"), timeout=10)[0]
    assert rec["error"]["message"] == "job 'spinner' exceeded its 2s time limit"
    busy = s.wait(lambda: [r for r in s.history("busy") if r["status"] != "running"], timeout=15)[0]
    assert busy["status"] == "completed", busy.get("error")


def test_d14_sigterm_stops_a_job_spinning_in_lua(serve, project):
    """A job with a long limit spins: SIGTERM is handled during the spin; the job is
    stopped when the grace period ends and recorded as cancelled — and so is the
    work queued behind another job meanwhile, which never got its turn."""
    s = serve({"spin.lua": """
      Scheduler.register({ name = 'spinner', trigger = { webhook = '/spin' }, timeout = 120,
                           run = function() Async.sleep(0.3) while true do end end })
      Scheduler.register({ name = 'q', overlap = 'queue', trigger = { webhook = '/q' },
                           run = function() Async.sleep(0.2) return 'ran' end })
    """}, env={"LLMSPELL_SERVE__GRACE": "1s"})
    accepted = {s.post("/q").json()["run_id"] for _ in range(4)}
    assert s.post("/spin").status_code == 202
    time.sleep(1.0)                                     # spinning now: the event loop is blocked
    t0 = time.time()
    code, err = stopped_within(s, 15)
    assert code == 0 and time.time() - t0 < 6 and "Traceback" not in err
    [rec] = records(project, "spinner").values()
    assert rec["status"] == "cancelled" and "stopped by shutdown" in rec["error"]["message"]
    q = records(project, "q")
    assert set(q) == accepted and {r["status"] for r in q.values()} <= {"completed", "cancelled"}
    assert "cancelled" in {r["status"] for r in q.values()}


def test_d14_sigterm_stops_a_spell_spinning_while_it_reloads(serve, project):
    s = serve({"r.lua": "Scheduler.register({ name = 'x', trigger = { webhook = '/x' }, run = function() end })"},
               env={"LLMSPELL_SERVE__GRACE": "1s"})
    time.sleep(0.3)                                     # let the watcher settle before the rewrite
    (project / "r.lua").write_text("while true do end")  # the new top level spins (limit: 300 s)
    deadline = time.time() + 10
    while health_answers(s, within=0.5) and time.time() < deadline:
        time.sleep(0.1)                                 # until the reload blocks the loop
    code, err = stopped_within(s, 10)
    assert code == 0 and "Traceback" not in err and "stopped by shutdown" in err


# -- D15: bounded queues; no accepted work dropped unrecorded -------------------------

def test_d15_full_queue_answers_429_and_every_accepted_run_is_recorded(serve, project):
    s = serve({"q.lua": """
      Scheduler.register({ name = 'q', overlap = 'queue', trigger = { webhook = '/q' },
                           run = function(t) Async.sleep(2) return t.body.n end })
      Scheduler.register({ name = 'small', overlap = 'queue', max_queue = 1, trigger = { webhook = '/small' },
                           run = function() Async.sleep(5) end })
      Scheduler.register({ name = 'skipper', trigger = { webhook = '/skip' }, run = function() Async.sleep(5) end })
    """}, toml="max_queue = 3\n", env={"LLMSPELL_SERVE__GRACE": "3s"})
    answers = [s.post("/q", json={"n": i, "pad": "x" * 50_000}) for i in range(10)]
    assert [r.status_code for r in answers] == [202] * 4 + [429] * 6
    assert [r.json()["status"] for r in answers[:4]] == ["started", "queued", "queued", "queued"]
    busy = answers[-1]
    assert busy.json()["status"] == "rejected" and "max_queue" in busy.json()["error"]
    assert int(busy.headers["Retry-After"]) >= 1
    assert [s.post("/small").status_code for _ in range(3)] == [202, 202, 429]      # per-job max_queue
    assert s.post("/jobs/q/trigger").status_code == 429                             # same bound by hand
    assert 'llmspell_job_rejected_total{job="q"} 7.0' in s.get("/metrics").text

    # overlap = "skip" while a run goes: 409, not a 202 the sender would take for accepted
    assert s.post("/skip").status_code == 202
    skipped = s.post("/skip")
    assert skipped.status_code == 409 and skipped.json()["status"] == "skipped"

    accepted = {r.json()["run_id"] for r in answers if r.status_code == 202}
    code, err = stopped_within(s, 20)                  # 4 runs of 2 s do not fit in the 3 s grace
    assert code == 0 and "queued" in err
    recs = records(project, "q")
    assert accepted <= set(recs), "an accepted run ended without a record"
    statuses = [recs[r]["status"] for r in accepted]
    assert set(statuses) <= {"completed", "cancelled"} and "cancelled" in statuses and "completed" in statuses
    assert len(recs) == len(accepted)                  # refused firings are counted, not stored
    small = records(project, "small")
    assert len(small) == 2 and {r["status"] for r in small.values()} == {"cancelled"}


# -- D16: bad requests are 4xx with a message, never a traceback ------------------------

def test_d16_bad_query_and_oversized_header(serve, project):
    s = serve({"h.lua": "Scheduler.register({ name = 'h', trigger = { webhook = '/h' }, run = function(t) return t.body end })"})
    for i in range(3):
        s.post("/h", json=i)
    s.wait(lambda: len(done(s.history("h"))) == 3)
    for bad in ("abc", "-1", "0", "1.5", "", "%00"):
        r = s.get(f"/jobs/h/history?limit={bad}")
        if bad == "":
            assert r.status_code == 200 and len(r.json()) == 3
            continue
        assert r.status_code == 400, bad
        assert "limit must be a whole number" in r.json()["error"]
    assert [x["output"] for x in s.get("/jobs/h/history?limit=2").json()] == [2, 1]   # the newest two
    assert s.get("/jobs/nope/history?limit=abc").status_code == 400

    port = int(s.url.rsplit(":", 1)[1])
    for raw in (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n",
                b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"NOT HTTP AT ALL\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(raw)
            status = c.recv(200).split(b"\r\n", 1)[0]
        assert status.split()[1] in (b"400", b"431"), status
    assert s.get("/health").status_code == 200
    code, err = stopped_within(s, 15)
    assert code == 0
    assert "Traceback" not in err and "ValueError" not in err
    assert "http: bad request from 127.0.0.1" in err                  # one line each instead


# -- S4: the test clock is not read from the environment --------------------------------

def test_s4_fake_now_in_the_environment_changes_nothing(serve):
    hour = (datetime.now(timezone.utc).hour + 12) % 24        # a cron time about 12 h away
    fake = datetime.now(timezone.utc).replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(seconds=2)
    s = serve({"c.lua": f"Scheduler.register({{ name = 'daily', trigger = {{ cron = '0 {hour} * * *', timezone = 'UTC' }},"
                         " run = function() return 'fired' end })"},
               env={"LLMSPELL_FAKE_NOW": fake.isoformat()})
    [job] = s.get("/jobs").json()
    assert job["next_run"] - time.time() > 3600             # the real schedule, not 2 s after the fake time
    time.sleep(3.5)
    assert s.history("daily") == []


# -- serve: clear errors, before any spell runs --------------------------------------------

SIDE_EFFECT = ("Tools.get('file_writer'):execute({ path = 'ran.txt', content = 'top level ran' })\n"
               "Scheduler.register({ name = 'x', trigger = { webhook = '/x' }, run = function() end })\n")


def one_clear_error(r: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert "Traceback" not in r.stderr and "Errno" not in r.stderr and "gaierror" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: [") and all(e in lines[0] for e in expected), r.stderr
    assert any(line.strip().startswith("hint:") for line in lines[1:]), r.stderr


def test_serve_on_a_port_in_use_fails_before_spells_run(project):
    (project / "s.lua").write_text(SIDE_EFFECT)
    assert cli("run", "s.lua", cwd=project).returncode == 0 and (project / "ran.txt").exists()   # the probe works
    (project / "ran.txt").unlink()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = cli("serve", "s.lua", "--port", str(port), cwd=project, timeout=30)
    assert not (project / "ran.txt").exists(), "the spell's top level ran before the port was checked"
    assert r.returncode == 1
    one_clear_error(r, "ServiceUnavailable", f"port {port}", "already in use")


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])
def test_serve_on_a_bad_host_is_a_usage_error(project, host):
    (project / "s.lua").write_text(SIDE_EFFECT)
    r = cli("serve", "s.lua", "--host", host, "--port", "0", cwd=project, timeout=30)
    assert not (project / "ran.txt").exists(), "the spell's top level ran before the host was checked"
    assert r.returncode == 2
    one_clear_error(r, "ConfigurationInvalid", host)


def test_jobs_with_a_corrupt_or_foreign_state_file(project):
    state = project / ".llmspell" / "serve.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cases = {
        "{not json": "not a valid daemon state file",
        "[1, 2]": "not a valid daemon state file",
        json.dumps({"pid": 1, "port": 8080}): "no 'host'",                            # was KeyError: 'host'
        json.dumps({"host": "127.0.0.1", "port": "8080"}): "no valid 'port'",
        json.dumps({"host": "192.0.2.1", "port": 8080}): "not an address of this machine",   # never sent the token
        json.dumps({"host": "127.0.0.1", "port": 9, "pid": dead.pid}): "no llmspell daemon is running",
    }
    for text, expected in cases.items():
        state.write_text(text)
        r = cli("jobs", "list", cwd=project, env={"LLMSPELL_SERVE__TOKEN": "s3cret"}, timeout=30)
        assert r.returncode == 1, text
        one_clear_error(r, expected)
        assert "JSONDecodeError" not in r.stderr and "KeyError" not in r.stderr


# -- Scheduler: `every` takes durations like the config ------------------------------------

def test_every_takes_durations_and_refuses_nonsense(lua):
    assert lua("Scheduler.register({ name = 'a', trigger = { every = '90s' }, run = function() end })"
               " Scheduler.register({ name = 'b', trigger = { every = '1h' }, timeout = '5m', jitter = '250ms',"
               " run = function() end }) return #Scheduler.list()") == 2
    for every, why in (("'soon'", "expected a duration like"), ("0", "at least"), ("-5", "at least"),
                       ("math.huge", "at least"), ("{}", "expected a duration like")):
        with pytest.raises(LLMSpellError) as e:
            lua(f"Scheduler.register({{ name = 'c', trigger = {{ every = {every} }}, run = function() end }})")
        assert "Scheduler.register('c'): trigger.every" in e.value.message and why in e.value.message, every
    with pytest.raises(LLMSpellError, match="timeout"):
        lua("Scheduler.register({ name = 'd', trigger = { webhook = '/d' }, timeout = 'later', run = function() end })")


def test_every_duration_string_fires_under_the_daemon(serve, project):
    s = serve({"e.lua": "Scheduler.register({ name = 'tick', trigger = { every = '300ms' }, run = function() return 1 end })"})
    s.wait(lambda: len(done(s.history("tick"))) >= 3, timeout=10)
    (project / "bad.lua").write_text("Scheduler.register({ name = 'e', trigger = { every = 'soon' }, run = function() end })")
    r = cli("run", "bad.lua", cwd=project)
    assert r.returncode == 1 and "trigger.every" in r.stderr and "'soon'" in r.stderr and "Traceback" not in r.stderr



def test_js_resident_spell_outlives_the_load_time_limit(project):
    """A resident JS spell's handlers keep working after security.max_execution_time
    has passed since it loaded (QuickJS's deadline is fixed at evaluation start)."""
    import asyncio

    from llmspell import Runtime
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nmax_execution_time = "1s"\n')
    (project / "r.js").write_text("let n = 0;\nEvents.subscribe('tick', async () => { n += 1; await Storage.set('n', n); });")

    async def main():
        rt = Runtime(cwd=project)
        run = rt.open_spell(project / "r.js")
        await run.execute(keep=True)
        await asyncio.sleep(1.6)                     # past the 1 s limit
        rt.events.emit("tick", {})
        await rt.events.drain()
        value = rt.kv("").get("n")
        run.finish()
        rt.close()
        return value
    assert asyncio.run(main()) == 1


def test_a_job_on_state_events_does_not_fire_itself_forever(serve, project):
    """The daemon's own job records are not `state.changed` events a spell hears."""
    s = serve({"loop.lua": """
      Scheduler.register({ name = 'audit', trigger = { event = 'state.*' },
                           run = function(t) return t.event.data.namespace or 'main' end })
      Scheduler.register({ name = 'writer', trigger = { webhook = '/w' },
                           run = function() Storage.set('k', 1) end })
    """})
    assert s.post("/w").status_code == 202
    time.sleep(2.0)
    runs = s.get("/jobs/audit/history?limit=200").json()
    assert len(runs) == 1 and runs[0]["output"] == "main", [r.get("output") for r in runs[:5]]


def test_job_history_keeps_the_newest_and_trims_in_batches(project):
    from llmspell import Runtime
    from llmspell.serve.history import JobHistory
    from llmspell.serve.metrics import Metrics
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n')
    with Runtime(cwd=project) as rt:
        h = JobHistory(lambda: rt.kv("jobs"), 3, Metrics(), lambda m: None)
        for i in range(40):
            h.record("j", {"run_id": f"r{i}", "status": "completed", "started": 1000.0 + i})
        assert [r["run_id"] for r in h.runs("j", 100)] == ["r39", "r38", "r37"]
        stored = rt.kv("jobs").list("j\x1f")
        assert 3 <= len(stored) <= 3 + h._slack             # never more than a batch over

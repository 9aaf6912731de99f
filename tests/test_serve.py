"""`llmspell serve` as a real subprocess on a free port, driven like a user would."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import cli
from tests.daemon_harness import Served, done


def test_every_webhook_event_health_metrics(serve):
    s = serve({"jobs.lua": """
      local n = 0
      Scheduler.register({ name = 'tick', trigger = { every = 0.3 }, run = function(t) n = n + 1 return n end })
      Scheduler.register({ name = 'hook', trigger = { webhook = '/hooks/report' }, run = function(t)
        Events.emit('report.requested', { who = t.body.who })
        return { who = t.body.who, q = t.query.x, h = t.headers['X-Test'], method = t.method } end })
      Scheduler.register({ name = 'react', trigger = { event = 'report.*' }, run = function(t)
        return 'reacted to ' .. t.event.data.who end })
    """})
    assert s.get("/health").json()["status"] == "ok"
    r = s.post("/hooks/report?x=1", json={"who": "ada"}, headers={"X-Test": "yes"})
    assert r.status_code == 202 and r.json()["job"] == "hook"
    hook = s.wait(lambda: done(s.history("hook")))
    assert json.loads(hook[0]["output"]) == {"who": "ada", "q": "1", "h": "yes", "method": "POST"}
    react = s.wait(lambda: done(s.history("react")))
    assert react[0]["output"] == "reacted to ada" and react[0]["source"] == "event"
    ticks = s.wait(lambda: len(done(s.history("tick"))) >= 3 and done(s.history("tick")))
    assert ticks[0]["output"] > ticks[-1]["output"]            # newest first, counting up
    jobs = {j["name"]: j for j in s.get("/jobs").json()}
    assert set(jobs) == {"tick", "hook", "react"} and jobs["tick"]["next_run"]
    metrics = s.get("/metrics").text
    assert 'llmspell_job_runs_total{job="hook",status="completed"} 1.0' in metrics
    assert "llmspell_job_duration_seconds_bucket" in metrics
    assert s.post("/nowhere").status_code == 404


def test_jobs_commands_talk_to_the_daemon(serve, project):
    s = serve({"j.lua": "Scheduler.register({ name = 'manual', trigger = { webhook = '/m' },"
                        " run = function(t) return 'body=' .. tostring(t.body and t.body.n) end })"})
    listed = json.loads(cli("--json", "jobs", "list", cwd=project).stdout)
    assert [j["name"] for j in listed] == ["manual"]
    r = cli("jobs", "trigger", "manual", "--input", '{"n": 7}', cwd=project)
    assert r.returncode == 0 and "manual: started" in r.stdout
    s.wait(lambda: done(s.history("manual")))
    hist = json.loads(cli("--json", "jobs", "history", "manual", cwd=project).stdout)
    assert hist[0]["output"] == "body=7" and hist[0]["source"] == "manual"
    assert cli("jobs", "trigger", "nope", cwd=project).returncode == 1


def test_cron_with_time_zone_via_injected_clock(serve):
    s = serve({"c.lua": "Scheduler.register({ name = 'daily', trigger = { cron = '0 8 * * *', timezone = 'Europe/Paris' },"
                        " run = function(t) return os.date('!%H:%M', math.floor(t.scheduled)) end })"},
              clock="2026-03-02T07:59:58+01:00")
    runs = s.wait(lambda: done(s.history("daily")), timeout=8)
    assert runs[0]["output"] == "07:00" and runs[0]["source"] == "cron"     # 08:00 Paris is 07:00 UTC


def test_file_watch(serve, project):
    s = serve({"w.lua": "Scheduler.register({ name = 'inbox', trigger = { watch = 'inbox', pattern = '*.csv' },"
                        " run = function(t) return t.change .. ' ' .. t.path:match('[^/]+$') end })"})
    time.sleep(1.0)
    (project / "inbox" / "ignored.txt").write_text("x")
    (project / "inbox" / "data.csv").write_text("a,b\n1,2\n")
    runs = s.wait(lambda: done(s.history("inbox")), timeout=10)
    assert [r["output"] for r in runs] == ["created data.csv"]


def test_hot_reload_and_broken_version_keeps_the_old(serve, project):
    s = serve({"r.lua": "Scheduler.register({ name = 'ver', trigger = { webhook = '/v' }, run = function() return 'v1' end })"})
    s.post("/v")
    assert s.wait(lambda: done(s.history("ver")))[0]["output"] == "v1"
    time.sleep(0.3)
    (project / "r.lua").write_text("Scheduler.register({ name = 'ver', trigger = { webhook = '/v' }, run = function() return 'v2' end })")
    s.wait(lambda: any(r["ok"] and r["spell"] == "r.lua" for r in s.get("/reloads").json()[1:]), timeout=10)
    s.post("/v")
    assert s.wait(lambda: [r for r in done(s.history("ver")) if r["output"] == "v2"])
    (project / "r.lua").write_text("Scheduler.register({ name = 'ver', trigger = { webhook = '/v' }, run = function() return 'v3' end })\nlocal = broken")
    bad = s.wait(lambda: [r for r in s.get("/reloads").json() if not r["ok"]], timeout=10)
    assert "r.lua:2" in bad[0]["error"] and "SyntaxError" in bad[0]["error"]
    s.post("/v")
    time.sleep(0.5)
    assert done(s.history("ver"))[0]["output"] == "v2"             # the old version still answers


def test_isolation_of_failing_hanging_and_memory_bombing_jobs(serve):
    s = serve({"bad.lua": """
      Scheduler.register({ name = 'fails', trigger = { webhook = '/fail' }, run = function() error('broken job') end })
      Scheduler.register({ name = 'hangs', trigger = { webhook = '/hang' }, timeout = 0.5, run = function() Async.sleep(60) end })
      Scheduler.register({ name = 'spins', trigger = { webhook = '/spin' }, timeout = 0.5, run = function() while true do end end })
      Scheduler.register({ name = 'bomb', trigger = { webhook = '/bomb' }, run = function()
        local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end end })
      Scheduler.register({ name = 'alive', trigger = { every = 0.2 }, run = function() return 'ok' end })
    """}, toml='[security]\nmax_memory = "64MB"\n')
    for path in ("/fail", "/hang", "/spin", "/bomb"):
        assert s.post(path).status_code == 202
    codes = {}
    for job in ("fails", "hangs", "spins", "bomb"):
        rec = s.wait(lambda j=job: done(s.history(j), "failed"), timeout=15)[0]
        codes[job] = rec["error"]["code"]
    assert codes == {"fails": 4002, "hangs": 4004, "spins": 4004, "bomb": 4005}
    before = len(done(s.history("alive")))
    time.sleep(0.8)
    assert len(done(s.history("alive"))) > before                  # everything else kept running
    s.post("/spin")                                                 # the runtime is still usable afterwards
    assert len(s.wait(lambda: done(s.history("spins"), "failed") if len(done(s.history("spins"), "failed")) >= 2 else None)) == 2


def test_crashing_handler_restarts_with_backoff(serve):
    s = serve({"svc.lua": """
      local tries = 0
      Scheduler.register({ name = 'service', trigger = { start = true }, restart = true, run = function()
        tries = tries + 1
        if tries < 3 then error('crash ' .. tries) end
        return 'up after ' .. tries
      end })
    """})
    ok = s.wait(lambda: done(s.history("service")), timeout=5)
    hist = s.history("service")
    failed = done(hist, "failed")
    assert ok[0]["output"] == "up after 3" and len(failed) == 2
    assert ok[0]["started"] - failed[-1]["finished"] < 1.5           # restarted within about a second


def test_overlap_skip_and_queue(serve):
    s = serve({"o.lua": """
      Scheduler.register({ name = 'skipper', overlap = 'skip', trigger = { webhook = '/s' }, run = function() Async.sleep(0.5) end })
      Scheduler.register({ name = 'queuer', overlap = 'queue', trigger = { webhook = '/q' }, run = function() Async.sleep(0.2) end })
    """})
    for _ in range(3):
        s.post("/s")
        s.post("/q")
    s.wait(lambda: len(done(s.history("queuer"))) == 3, timeout=5)       # queued runs all ran, one after another
    q = sorted(done(s.history("queuer")), key=lambda r: r["started"])
    assert all(b["started"] >= a["finished"] - 0.01 for a, b in zip(q, q[1:]))
    s.wait(lambda: len(done(s.history("skipper"))) == 1)
    assert len(done(s.history("skipper"), "skipped")) == 2


def test_token_protects_all_but_health(project):
    (project / "t.lua").write_text("Scheduler.register({ name = 'x', trigger = { webhook = '/x' }, run = function() end })")
    s = Served(project, ["t.lua"], env={"LLMSPELL_SERVE__TOKEN": "s3cret"})
    try:
        assert s.get("/health").status_code == 200
        assert s.get("/jobs").status_code == 401 and s.post("/x").status_code == 401
        assert s.get("/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = cli("jobs", "list", cwd=project, env={"LLMSPELL_SERVE__TOKEN": "s3cret"})
        assert r.returncode == 0 and "x" in r.stdout
    finally:
        s.stop()


def test_missed_run_policy(project):
    (project / "m.lua").write_text(
        "Scheduler.register({ name = 'catchup', trigger = { cron = '0 3 * * *' }, missed = 'run_once',"
        " run = function(t) return t.missed and 'caught up' or 'on time' end })")
    (project / "llmspell.toml").write_text("")
    # the job last fired three days ago: the 03:00 runs since were missed while the daemon was down
    assert cli("state", "set", "catchup", str(time.time() - 3 * 86400), "--namespace", "jobs_state",
               cwd=project).returncode == 0
    s = Served(project, ["m.lua"])
    try:
        runs = s.wait(lambda: done(s.history("catchup")), timeout=5)
        assert [r["output"] for r in runs] == ["caught up"]           # once, not three times
    finally:
        s.stop()


def test_graceful_shutdown_lets_running_jobs_finish(serve, project):
    s = serve({"g.lua": "Scheduler.register({ name = 'slow', trigger = { webhook = '/slow' }, run = function()"
                        " Async.sleep(1) return 'finished' end })"})
    s.post("/slow")
    time.sleep(0.3)
    code, err = s.stop()
    assert code == 0 and "waiting up to 5s for 1 running job" in err
    r = cli("--json", "state", "list", "--namespace", "jobs", cwd=project)
    keys = json.loads(r.stdout)
    rec = json.loads(cli("--json", "state", "get", keys[0], "--namespace", "jobs", cwd=project).stdout)
    assert rec["status"] == "completed" and rec["output"] == "finished"
    assert not (project / ".llmspell" / "serve.json").exists()


def test_daemon_example_answers_webhooks_and_reports(project):
    spells = Path(__file__).resolve().parent.parent / "spells"
    for ext in ("lua", "js"):
        (project / f"daemon_jobs.{ext}").write_text((spells / f"daemon_jobs.{ext}").read_text())
        (project / ".llmspell").mkdir(exist_ok=True)
        s = Served(project, [f"daemon_jobs.{ext}"], clock="2026-03-02T07:59:57+01:00")
        try:
            s.post("/hooks/ask", json={"question": "What is 6 * 7?"})
            ask = s.wait(lambda: done(s.history("ask")))
            assert ask[0]["output"] == "What is 6 * 7?"            # the mock model echoes
            report = s.wait(lambda: done(s.history("daily_report")), timeout=8)
            assert report[0]["output"] == "1 question(s) answered", ext
            assert (project / "out" / "daily.txt").read_text() == "1 question(s) answered\n"
        finally:
            assert s.stop()[0] == 0


def test_state_commands_work_while_the_daemon_idles(serve, project):
    s = serve({"i.lua": "Storage.set('from_daemon', 'hi')\n"
                        "Scheduler.register({ name = 'read', trigger = { webhook = '/r' },"
                        " run = function() return Storage.get('from_cli') end })"},
              toml='[storage]\nlock_timeout = "5s"\n')
    time.sleep(1.2)
    assert cli("state", "get", "from_daemon", cwd=project).stdout.strip() == "hi"
    assert cli("state", "set", "from_cli", "written", cwd=project).returncode == 0
    s.post("/r")
    assert s.wait(lambda: done(s.history("read")))[0]["output"] == "written"

"""`llmspell serve`: resident spells, live Scheduler triggers, HTTP, hot reload.

Each spell file runs its top level once and stays resident: the jobs, hooks,
subscriptions and tools it registers are live until the file changes (then a
new version replaces it, or — if the new version is broken — the old one keeps
running) or the daemon stops. Trigger loops are supervised: one that crashes
is restarted with backoff.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..deadline import Deadline
from ..deadline import current as current_limit
from ..engines import ENGINES
from ..errors import LLMSpellError, UsageError
from ..paths import display_path
from ..runtime import Runtime, SpellRun
from .history import JobHistory
from .http import bind, start_http
from .jobs import Job, JobRunner
from .metrics import Metrics


class Clock:
    """Wall time, optionally shifted to start at `start` (an ISO time). Only code that
    embeds the daemon (tests reaching a cron time quickly) passes one; the daemon
    itself never takes the time from its environment."""

    def __init__(self, start: str | None = None) -> None:
        self.offset = 0.0
        if start:
            self.offset = datetime.fromisoformat(start).timestamp() - time.time()

    def now(self) -> float:
        return time.time() + self.offset


class Daemon:
    """Resident spells and their jobs; implements the operations `http.DaemonControl` serves."""

    def __init__(self, runtime: Runtime, targets: list[str], *, clock: Clock | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.rt = runtime
        self.events = runtime.events
        self.cfg = runtime.config.settings.serve
        self.targets = targets
        self.clock = clock or Clock()
        self.log = log or (lambda m: sys.stderr.write(m + "\n"))
        self.spells: dict[str, SpellRun] = {}          # path → resident run
        self.jobs: dict[str, Job] = {}
        self.pending: dict[SpellRun, list[Job]] = {}    # registered while a spell loads
        self.webhooks: dict[str, Job] = {}
        self.metrics = Metrics()
        self.history = JobHistory(lambda: runtime.kv("jobs"), self.cfg.history, self.metrics, self.log)
        self.runner = JobRunner(self.events, self.history, lambda job: self.jobs.get(job.name) is job)
        self.started = time.time()
        self.port = self.cfg.port
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._reloads: list[dict[str, Any]] = []

    # -- spells -------------------------------------------------------------------
    def spell_files(self) -> list[Path]:
        files: list[Path] = []
        for t in self.targets:
            p = Path(t)
            if p.is_dir():
                files += sorted(f for f in p.iterdir() if f.suffix in ENGINES and f.is_file())
            elif p.is_file():
                files.append(p)
            else:
                raise UsageError(f"serve: no spell or folder at {t}")
        return files

    async def load(self, path: Path) -> bool:
        """Run a spell's top level and make its registrations live; on failure
        keep whatever version was running before."""
        key = str(path.resolve())
        display = display_path(path)
        run = self.rt.open_spell(path, job_sink=self.register_job)
        self.pending[run] = []
        # the load's own limit (what the top level starts — event deliveries, tasks — keeps it);
        # shutdown cuts it to the grace period like a firing's
        limit = Deadline(time.monotonic() + run.limit, run.timeout_message())
        token = current_limit.set(limit)
        self.runner.hold(limit)
        try:
            await run.execute(keep=True)
        except LLMSpellError as e:
            self.pending.pop(run, None)
            run.finish()
            old = " (the previous version keeps running)" if key in self.spells else ""
            self.log(f"error: cannot load {display}: {e.located()}{old}")
            self._reloads.append({"spell": display, "ok": False, "error": e.located(), "at": time.time()})
            self.events.emit("spell.load_failed", {"spell": display, "error": e.to_dict()}, display)
            return False
        finally:
            current_limit.reset(token)
            self.runner.release(limit)
        run.deadline = float("inf")
        new_jobs = self.pending.pop(run)
        old = self.spells.get(key)
        if old is not None:
            self.unload(key)
        self.spells[key] = run
        for job in new_jobs:
            self._activate(job)
        self._reloads.append({"spell": display, "ok": True, "jobs": [j.name for j in new_jobs], "at": time.time()})
        self.log(f"loaded {display}: {len(new_jobs)} job(s)" + (" (reloaded)" if old else ""))
        return True

    def unload(self, key: str) -> None:
        run = self.spells.pop(key, None)
        if run is None:
            return
        for name in [n for n, j in self.jobs.items() if j.owner is run]:
            self._deactivate(self.jobs[name])
        run.finish()

    # -- jobs ---------------------------------------------------------------------
    def register_job(self, run: Any, spec: dict[str, Any]) -> None:
        """The job sink of every resident spell: `Scheduler.register` lands here."""
        assert isinstance(run, SpellRun)
        job = Job.from_spec(run, spec, self.cfg.job_timeout, self.cfg.max_queue)
        if run in self.pending:
            self.pending[run].append(job)
        else:
            self._activate(job)

    def _activate(self, job: Job) -> None:
        old = self.jobs.get(job.name)
        if old is not None:
            if old.owner is not job.owner and old.owner in self.spells.values():
                self.log(f"warning: job {job.name!r} from {job.owner.display} replaces the one from {old.owner.display}")
            self._deactivate(old)
        self.jobs[job.name] = job
        kind = job.kind()
        t = job.trigger
        if kind == "cron":
            job.tasks.append(self._supervise(job, self._cron_loop))
        elif kind == "every":
            job.tasks.append(self._supervise(job, self._every_loop))
        elif kind == "event":
            self.events.subscribe(str(t["event"]), lambda ev, j=job: self._fire_event(j, ev), owner=job)
        elif kind == "webhook":
            self.webhooks[str(t["webhook"])] = job
        elif kind == "watch":
            job.tasks.append(self._supervise(job, self._watch_loop))
        elif kind == "start":
            self.runner.fire(job, {"trigger": "start"}, "start")

    def _deactivate(self, job: Job) -> None:
        for task in job.tasks:
            task.cancel()
        job.tasks.clear()
        self.events.remove_owner(job)
        for path, j in list(self.webhooks.items()):
            if j is job:
                del self.webhooks[path]
        if self.jobs.get(job.name) is job:
            del self.jobs[job.name]

    def _fire_event(self, job: Job, ev: dict[str, Any]) -> None:
        if ev.get("type") == "schedule.fired" and (ev.get("data") or {}).get("job") == job.name:
            return     # a job never triggers itself through its own firing event
        self.runner.fire(job, {"trigger": "event", "event": ev}, "event")

    def _supervise(self, job: Job, loop_fn: Callable[[Job], Awaitable[None]]) -> asyncio.Task[Any]:
        async def supervised() -> None:
            failures = 0
            while not self.stopping:
                try:
                    await loop_fn(job)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as e:          # a broken trigger loop restarts, backing off (≤ 1 s)
                    failures += 1
                    self.log(f"warning: trigger of job {job.name!r} failed ({e}); restarting")
                    await asyncio.sleep(min(1.0, 0.05 * 2 ** failures))
        return asyncio.get_running_loop().create_task(supervised())

    async def _every_loop(self, job: Job) -> None:
        every = job.every()
        while True:
            job.next_fire = self.clock.now() + every
            await asyncio.sleep(every)
            self.runner.fire(job, {"trigger": "every", "scheduled": job.next_fire}, "every")

    async def _cron_loop(self, job: Job) -> None:
        from ..core.cron import fire_times, zone
        tz = zone(job.trigger.get("timezone") or job.trigger.get("tz"), job.name)
        expr = str(job.trigger["cron"])
        kv = self.rt.kv("jobs_state")
        last = kv.get(job.name)
        now = datetime.fromtimestamp(self.clock.now(), tz or datetime.now().astimezone().tzinfo)
        if last is not None and job.missed == "run_once":
            missed = next(fire_times(expr, datetime.fromtimestamp(last, now.tzinfo)))
            if missed <= now:
                self.runner.fire(job, {"trigger": "cron", "scheduled": missed.timestamp(), "missed": True}, "missed")
                kv.set(job.name, now.timestamp())
        times = fire_times(expr, now)
        while True:
            at = next(times)
            job.next_fire = at.timestamp()
            await asyncio.sleep(max(0.0, at.timestamp() - self.clock.now()))
            self.runner.fire(job, {"trigger": "cron", "scheduled": at.timestamp()}, "cron")
            kv.set(job.name, at.timestamp())

    async def _watch_loop(self, job: Job) -> None:
        import fnmatch

        from watchfiles import Change, awatch
        folder = Path(str(job.trigger["watch"]))
        if not folder.is_absolute():
            folder = Path(job.owner.spell_dir or ".") / folder if not folder.exists() else folder
        folder.mkdir(parents=True, exist_ok=True)
        pattern = str(job.trigger.get("pattern") or "*")
        kinds = {Change.added: "created", Change.modified: "modified"}
        async for changes in awatch(folder, stop_event=self._stop, debounce=200, step=50):
            for change, path in sorted(changes, key=lambda c: c[1]):
                if change in kinds and fnmatch.fnmatch(os.path.basename(path), pattern) and os.path.isfile(path):
                    self.runner.fire(job, {"trigger": "watch", "path": path, "change": kinds[change]}, "watch")

    # -- what the HTTP side serves (http.DaemonControl) -----------------------------
    @property
    def stopping(self) -> bool:
        return self.runner.stopping

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "spells": len(self.spells), "jobs": len(self.jobs),
                "uptime": round(time.time() - self.started, 3)}

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def list_jobs(self) -> list[dict[str, Any]]:
        return [j.info() for j in sorted(self.jobs.values(), key=lambda j: j.name)]

    def job_runs(self, name: str, limit: int = 50) -> list[dict[str, Any]] | None:
        runs = self.history.runs(name, limit)
        return runs if runs or name in self.jobs else None

    def trigger(self, name: str, payload: Any) -> dict[str, Any] | None:
        job = self.jobs.get(name)
        if job is None:
            return None
        return self.runner.fire(job, {"trigger": "manual", "body": payload}, "manual").to_dict()

    def webhook(self, path: str, data: dict[str, Any]) -> dict[str, Any] | None:
        job = self.webhooks.get(path)
        if job is None:
            return None
        return self.runner.fire(job, data, "webhook").to_dict()

    def reloads(self) -> list[dict[str, Any]]:
        return self._reloads[-50:]

    # -- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # The port first: a port in use or a bad host is reported before any spell runs.
        files = self.spell_files()
        socks = bind(self.cfg.host, self.cfg.port)
        previous = self._handle_signals(loop)
        try:
            try:
                for f in files:
                    await self.load(f)
                site, self.port = await start_http(self, socks, self.cfg.token, self.log)
            except BaseException:
                for s in socks:
                    s.close()
                for key in list(self.spells):
                    self.unload(key)
                raise
            self._write_state()
            self.log(f"llmspell serve: {len(self.spells)} spell(s), {len(self.jobs)} job(s), "
                     f"http://{self.cfg.host}:{self.port}")
            if self.cfg.reload:
                self._tasks.append(loop.create_task(self._reload_loop(files)))
            # like a run, the daemon lets go of the database while idle, so `llmspell state …`
            # from another terminal gets a turn
            self._tasks.append(loop.create_task(self.rt.release_when_idle()))
            await self._stop.wait()
            await self.shutdown(site)
        finally:
            self._restore_signals(loop, previous)

    def _handle_signals(self, loop: asyncio.AbstractEventLoop) -> dict[int, Any]:
        """SIGTERM/SIGINT stop the daemon. The loop's handler wakes the loop whichever
        thread gets the signal; a plain Python handler on top runs at the next bytecode
        of the main thread — also while a job spins in Lua (the engine's time check is
        Python) — and moves the running firings' limits to the end of grace, so a
        spinning job stops and the loop gets its turn to shut down."""
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            self.runner.begin_stop(self.cfg.grace)
            loop.call_soon_threadsafe(self._stop.set)
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                original = signal.getsignal(sig)
                loop.add_signal_handler(sig, self.stop)
                signal.signal(sig, on_signal)
                previous[sig] = original
            except (ValueError, OSError, RuntimeError, NotImplementedError):
                pass            # not the main thread: whoever embeds the daemon stops it
        return previous

    def _restore_signals(self, loop: asyncio.AbstractEventLoop, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)

    async def _reload_loop(self, files: list[Path]) -> None:
        from watchfiles import awatch
        watched = {str(f.resolve()) for f in files}
        served_dirs = {str(Path(t).resolve()) for t in self.targets if Path(t).is_dir()}
        dirs = sorted({str(Path(w).parent) for w in watched} | served_dirs)
        async for changes in awatch(*dirs, stop_event=self._stop, debounce=200, step=50):
            for _, path in sorted(changes, key=lambda c: c[1]):
                p = Path(path)
                # a served spell changed, or a new spell appeared in a served folder
                if p.suffix in ENGINES and p.is_file() and (path in watched or str(p.parent) in served_dirs):
                    watched.add(path)
                    await self.load(p)

    async def shutdown(self, site: Any) -> None:
        """Stop accepting; running and queued firings get the grace period to finish,
        then what still runs is cancelled and what is still queued recorded as
        cancelled — no accepted firing ends unrecorded."""
        self.runner.begin_stop(self.cfg.grace)
        self.log("llmspell serve: stopping")
        await site.cleanup()
        for job in list(self.jobs.values()):
            for t in job.tasks:
                t.cancel()
        for t in self._tasks:
            t.cancel()
        running, queued = self.runner.pending()
        if running or queued:
            self.log(f"waiting up to {self.cfg.grace:g}s for {running} running job(s)"
                     + (f" and {queued} queued" if queued else ""))
        await self.runner.finish()
        for key in list(self.spells):
            self.unload(key)
        self.events.flush()
        self._remove_state()
        self.log("llmspell serve: stopped")

    def stop(self) -> None:
        self.runner.begin_stop(self.cfg.grace)
        self._stop.set()

    # -- the state file other terminals use to find the daemon ------------------------
    def state_path(self) -> Path:
        return state_file(self.rt)

    def _write_state(self) -> None:
        p = self.state_path()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")        # atomic: other terminals read it any time
        tmp.write_text(json.dumps({"pid": os.getpid(), "host": self.cfg.host, "port": self.port,
                                   "started": self.started}))
        os.replace(tmp, p)

    def _remove_state(self) -> None:
        try:
            self.state_path().unlink()
        except OSError:
            pass


def state_file(rt: Runtime) -> Path:
    return rt.config.data_dir.parent / "serve.json"


"""Runtime: owns configuration, registries, storage and the event bus; runs spells.

One `Runtime` runs many spells. `open_spell` (a file) and `open_code` (inline
code) give a `SpellRun`: one run with its own engine instance, limits, run id
and per-run options (params, args, the run id to resume, where Scheduler jobs
go). `SpellRun.execute` runs its top level; what the run registered (hooks,
subscriptions, tools, agents) is removed when it finishes. The CLI, the REPL,
the daemon and embedding code all start runs this way.

`SpellRun` is the implementation of `core.context.RunContext` (what core code
may use of a run) and `engines.base.EngineHost` (what an engine needs).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .config import Config, load_config
from .core.context import AgentLike, JobSink, ModelResponse
from .core.events import EventBus, Subscription
from .core.hooks import HookRegistry
from .core.resilience import ProviderGuards, Usage
from .core.tools import ToolContext, ToolRegistry
from .engines import ENGINES, make_engine
from .errors import Code, LLMSpellError, SpellFailed
from .paths import display_path

if TYPE_CHECKING:
    import httpx

    from .api.registry import ApiRegistry
    from .engines.base import Engine
    from .storage import KV, Store

log = logging.getLogger("llmspell")


@dataclass
class RunResult:
    run_id: str
    value: Any
    duration_ms: float
    scheduler_jobs: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SpellSource:
    """What a run loads: a spell file, or inline code under a name."""
    display: str                 # how errors and events name it
    path: Path | None = None
    code: str | None = None

    def load(self, engine: "Engine") -> Any:
        if self.path is not None:
            return engine.load_file(str(self.path), self.display)
        return engine.load_string(self.code or "", "=" + self.display)


class Runtime:
    """The embeddable runtime: `Runtime(config="llmspell.toml").run_file("x.lua")`."""

    def __init__(self, config: Config | str | Path | None = None, *, debug: bool = False,
                 stdout: TextIO | None = None, cwd: str | Path | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        if isinstance(config, Config):
            self.config = config
        else:
            self.config = load_config(config, overrides=overrides, cwd=Path(cwd) if cwd else None)
        self.debug = debug
        self.stdout = stdout
        self.cwd = Path(cwd).resolve() if cwd else Path.cwd()
        s = self.config.settings
        self.tools = ToolRegistry()
        from .tools import register_builtins
        register_builtins(self.tools)
        self.hooks = HookRegistry(timeout=s.hooks.timeout)
        self._store: Store | None = None
        self.events = EventBus(store=None, persist=s.events.persist, max_history=s.events.max_history,
                               max_payload=s.events.max_payload)
        self.events.on_handler_error = self._handler_failed
        self.events.open_store = lambda: self.store
        self._http: httpx.AsyncClient | None = None
        self.agents: dict[str, AgentLike] = {}
        self.guards = ProviderGuards(self._provider_settings, self._circuit_changed)
        self._names: dict[str, itertools.count[int]] = {}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kw: Any) -> "Runtime":
        return cls(load_config(None, data=data, cwd=Path(kw.pop("cwd", None) or Path.cwd())), **kw)

    # -- services ---------------------------------------------------------------
    @property
    def api(self) -> "ApiRegistry":
        """The spell API engines install (imported on first run: it pulls in agents, workflows…)."""
        from .api.catalog import default_registry
        return default_registry()

    @property
    def store(self) -> "Store":
        if self._store is None:
            from .storage import open_store
            self._store = open_store(self.config)
            self.events.store = self._store
        return self._store

    def kv(self, namespace: str = "") -> "KV":
        from .storage import KV
        from .storage.base import INTERNAL_NAMESPACES
        # the runtime's own bookkeeping (job history, workflow records…) is not a
        # state change spells hear about: a job on `state.*` would fire itself forever
        internal = namespace in INTERNAL_NAMESPACES
        return KV(self.store, namespace, on_change=None if internal else self._state_changed)

    def next_name(self, kind: str) -> str:
        counter = self._names.get(kind)
        if counter is None:
            counter = self._names[kind] = itertools.count(1)
        return f"{kind}_{next(counter)}"

    async def release_when_idle(self, every: float = 0.5) -> None:
        """Let other llmspell processes at the database while this runtime doesn't need it."""
        while True:
            await asyncio.sleep(every)
            st = self._store
            if st is not None and hasattr(st, "release_if_idle"):
                self.events.flush()
                st.release_if_idle()

    def _provider_settings(self, provider: str) -> dict[str, Any]:
        from .providers import provider_settings
        return provider_settings(self.config, provider)

    def _circuit_changed(self, provider: str, state: str) -> None:
        self.events.emit(f"circuit.{state}", {"provider": provider}, provider)

    def _state_changed(self, ns: str, key: str, op: str) -> None:
        self.events.emit("state.changed", {"key": key, "namespace": ns or None, "op": op}, "storage")

    def _handler_failed(self, sub: Subscription, e: BaseException) -> None:
        msg = e.located() if isinstance(e, LLMSpellError) else f"{type(e).__name__}: {e}"
        print(f"warning: event handler for '{sub.pattern}' failed: {msg}", file=sys.stderr)

    @property
    def http(self) -> "httpx.AsyncClient":
        if self._http is None:
            import httpx
            self._http = httpx.AsyncClient(timeout=self.config.settings.tools.http_timeout,
                                           follow_redirects=False)
        return self._http

    def close(self) -> None:
        if self._store is not None:
            self.events.flush()
            if self.events.flushed >= 1000 or random.random() < 0.05:
                self.events.trim()
            self._store.close()
            self._store = None
            self.events.store = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- opening runs ---------------------------------------------------------------
    def open_spell(self, path: str | Path, *, engine: str | None = None, params: dict[str, Any] | None = None,
                   args: list[str] | None = None, resume_id: str | None = None,
                   job_sink: JobSink | None = None) -> "SpellRun":
        """A run of the spell file at `path`, ready to `execute()`.

        `engine` overrides the one the extension names; `resume_id` continues a
        checkpointed workflow run (`llmspell run --resume`); `job_sink` receives
        every `Scheduler.register` (the daemon passes one; a plain run only lists jobs).
        """
        p = Path(path)
        if not p.is_file():
            raise SpellFailed(Code.SCRIPT_RUNTIME_ERROR, f"spell file not found: {path}")
        kind = engine or ENGINES.get(p.suffix.lower())
        if kind is None:
            raise LLMSpellError(Code.SCRIPT_API_NOT_AVAILABLE,
                                f"cannot tell the engine of {p.name} from its extension; use --engine lua|js")
        return SpellRun(self, SpellSource(display_path(p), path=p), engine=kind, params=params or {},
                        args=args or [], spell_dir=str(p.resolve().parent), resume_id=resume_id, job_sink=job_sink)

    def open_code(self, code: str, engine: str = "lua", *, params: dict[str, Any] | None = None,
                  args: list[str] | None = None, name: str = "exec") -> "SpellRun":
        """A run of inline code (its folder, for `require`, is the runtime's cwd)."""
        return SpellRun(self, SpellSource(name, code=code), engine=engine, params=params or {},
                        args=args or [], spell_dir=str(self.cwd))

    # -- running ------------------------------------------------------------------
    def run_file(self, path: str | Path, params: dict[str, Any] | None = None,
                 args: list[str] | None = None, engine: str | None = None) -> Any:
        """Run a spell file to completion; returns the spell's return value."""
        return asyncio.run(self._own_loop(self.arun_file(path, params, args, engine))).value

    async def _own_loop(self, coro: Any) -> Any:
        try:
            return await coro
        finally:
            if self._http is not None:
                await self._http.aclose()
                self._http = None

    async def arun_file(self, path: str | Path, params: dict[str, Any] | None = None,
                        args: list[str] | None = None, engine: str | None = None) -> RunResult:
        return await self.open_spell(path, engine=engine, params=params, args=args).execute()

    def run(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
            args: list[str] | None = None) -> Any:
        return asyncio.run(self._own_loop(self.arun(code, engine, params, args)))

    async def arun(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
                   args: list[str] | None = None) -> Any:
        """Run inline code; returns its value."""
        return (await self.arun_code(code, engine, params, args)).value

    async def arun_code(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
                        args: list[str] | None = None, name: str = "exec") -> RunResult:
        return await self.open_code(code, engine, params=params, args=args, name=name).execute()


class SpellRun:
    """One run of a spell (see the module docstring)."""

    def __init__(self, runtime: Runtime, source: SpellSource, *, engine: str, params: dict[str, Any],
                 args: list[str], spell_dir: str | None, resume_id: str | None = None,
                 job_sink: JobSink | None = None) -> None:
        self._runtime = runtime
        self.source = source
        self.display = source.display
        self.config = runtime.config
        self.tools = runtime.tools
        self.hooks = runtime.hooks
        self.events = runtime.events
        self.agents = runtime.agents
        self.guards = runtime.guards
        self.engine_kind = engine
        self.params = params
        self.args = args
        self.spell_dir = spell_dir
        self.id = uuid.uuid4().hex[:12]
        self.debug = runtime.debug
        self.limit = self.config.settings.security.max_execution_time
        self.deadline = float("inf")
        self.resident = False
        self.scheduler_jobs: list[dict[str, Any]] = []
        self.job_sink = job_sink
        self.tool_context = ToolContext(self.config, runtime.cwd, lambda: runtime.http, self)
        self.out: TextIO | None = runtime.stdout
        self.engine: Engine | None = None
        self.usage: dict[tuple[str, str], Usage] = {}    # (agent, model) → Usage
        self._resume_id = resume_id
        self._kvs: dict[str, KV] = {}

    # -- RunContext ------------------------------------------------------------------
    def take_resume(self, workflow: str) -> str | None:
        rid = self._resume_id
        if rid is None:
            return None
        rec = self.kv("workflows").get(rid)
        if rec is None:
            raise LLMSpellError(Code.WORKFLOW_NOT_FOUND, f"no workflow run {rid!r} to resume",
                                suggestions=["`llmspell runs list` shows runs"])
        if rec.get("workflow") != workflow:
            return None
        self._resume_id = None
        return rid

    def kv(self, namespace: str = "") -> "KV":
        kv = self._kvs.get(namespace)
        if kv is None:
            kv = self._kvs[namespace] = self._runtime.kv(namespace)
        return kv

    def next_name(self, kind: str) -> str:
        return self._runtime.next_name(kind)

    def write(self, text: str) -> None:
        out = self.out or sys.stdout
        out.write(text + "\n")

    def write_raw(self, text: str) -> None:
        """Write without a newline and flush, so streamed text shows live."""
        out = self.out or sys.stdout
        out.write(text)
        out.flush()

    def record_usage(self, model: str, agent: str, resp: ModelResponse) -> None:
        u = self.usage.get((agent, model))
        if u is None:
            u = self.usage[(agent, model)] = Usage()
        u.add(resp.prompt_tokens, resp.completion_tokens, resp.cost)

    def usage_total(self) -> Usage:
        t = Usage()
        for u in self.usage.values():
            t.add(u.prompt_tokens, u.completion_tokens, u.cost)
            t.calls += u.calls - 1
        return t

    def usage_summary(self) -> list[dict[str, Any]]:
        return [{"agent": a, "model": m, **u.to_dict()} for (a, m), u in sorted(self.usage.items())]

    # -- EngineHost ----------------------------------------------------------------------
    def timeout_message(self) -> str:
        return f"spell exceeded security.max_execution_time ({self.limit:g}s)"

    def memory_message(self) -> str:
        mb = self.config.settings.security.max_memory / 1e6
        return f"spell exceeded security.max_memory ({mb:g} MB)"

    # -- running -----------------------------------------------------------------------
    def start_engine(self) -> "Engine":
        if self.engine is None:
            self.engine = make_engine(self.engine_kind, self, self._runtime.api)
        return self.engine

    async def execute(self, keep: bool = False) -> RunResult:
        """Run the spell's top level. With `keep` (the daemon) its engine and
        registrations stay alive after it returns, until `finish()`."""
        t0 = time.perf_counter()
        self.deadline = time.monotonic() + self.limit
        self.resident = keep
        engine = self.start_engine()
        bus = self.events
        idle = asyncio.get_running_loop().create_task(self._runtime.release_when_idle())
        try:
            chunk = self.source.load(engine)
            await self.hooks.fire("system_startup", "system", self.display, self.id)
            bus.emit("spell.started", {"spell": self.display, "run_id": self.id, "engine": self.engine_kind},
                     self.display)
            try:
                async with asyncio.timeout(self.limit):
                    value = await engine.run_main(chunk)
                    await bus.drain()
            except TimeoutError:
                raise SpellFailed(Code.SCRIPT_EXECUTION_TIMEOUT, self.timeout_message(), source=self.display) from None
            ms = (time.perf_counter() - t0) * 1000
            bus.emit("spell.completed", {"spell": self.display, "run_id": self.id, "duration_ms": round(ms, 3)},
                     self.display)
            return RunResult(self.id, value, ms, self.scheduler_jobs, self.usage_summary())
        except LLMSpellError as e:
            bus.emit("spell.failed", {"spell": self.display, "run_id": self.id, "error": e.to_dict()},
                     self.display)
            raise
        finally:
            try:
                await self.hooks.fire("system_shutdown", "system", self.display, self.id)
            except LLMSpellError as e:
                log.warning("system_shutdown hook failed: %s", e)
            idle.cancel()
            if not keep:
                self.finish()

    def finish(self) -> None:
        """Remove what this run registered and close its engine."""
        self.hooks.remove_owner(self)
        self.events.remove_owner(self)
        self.tools.remove_owner(self)
        for name in [n for n, a in self.agents.items() if a.owner is self]:
            del self.agents[name]
        self.events.flush()
        if self.engine is not None:
            self.engine.close()


class Session:
    """A long-lived engine for the REPL: each `eval` runs a chunk in the same globals."""

    def __init__(self, runtime: Runtime, engine: str = "lua") -> None:
        self.run = runtime.open_code("", engine, name="repl")
        self.engine = self.run.start_engine()
        self.n = 0

    async def eval(self, code: str) -> Any:
        self.n += 1
        run, engine = self.run, self.engine
        run.deadline = time.monotonic() + run.limit
        name = f"=repl:{self.n}"
        if hasattr(engine, "load_repl"):
            chunk = engine.load_repl(code, self.n)
        else:
            try:
                chunk = engine.load_string("return " + code, name)
            except LLMSpellError:
                chunk = engine.load_string(code, name)
        try:
            async with asyncio.timeout(run.limit):
                try:
                    value = await engine.run_main(chunk)
                    await run.events.drain()
                finally:
                    if hasattr(engine, "settle"):
                        await engine.settle()
        except TimeoutError:
            raise SpellFailed(Code.SCRIPT_EXECUTION_TIMEOUT, run.timeout_message()) from None
        return value

    async def close(self) -> None:
        self.run.finish()

"""Runtime: owns configuration, registries, storage and the event bus; runs spells.

One `Runtime` can run many spells; each run gets a `SpellRun` with its own engine
instance, limits, run id, and the registrations (hooks, subscriptions, tools) it
made, which are removed when the run ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from .config import Config, load_config
from .core.events import EventBus
from .core.hooks import HookRegistry
from .core.tools import ToolRegistry
from .errors import LLMSpellError, SpellFailed

log = logging.getLogger("llmspell")

ENGINES = {".lua": "lua", ".js": "js", ".mjs": "js"}


@dataclass
class RunResult:
    run_id: str
    value: Any
    duration_ms: float
    scheduler_jobs: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)


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
        self._store: Any = None
        self.events = EventBus(store=None, persist=s.events.persist, max_history=s.events.max_history)
        self.events.on_handler_error = self._handler_failed
        self.events.open_store = lambda: self.store
        self._http: Any = None
        self.agents: dict[str, Any] = {}
        self.resume_id: str | None = None     # `llmspell run --resume RUN_ID`
        self.daemon: Any = None               # the running `llmspell serve`, if any
        self._breakers: dict[str, Any] = {}
        self._limiters: dict[str, Any] = {}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kw: Any) -> "Runtime":
        return cls(load_config(None, data=data, cwd=Path(kw.pop("cwd", None) or Path.cwd())), **kw)

    # -- services ---------------------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from .storage import open_store
            self._store = open_store(self.config)
            self.events.store = self._store
        return self._store

    def kv(self, namespace: str = "") -> Any:
        from .storage import KV
        return KV(self.store, namespace, on_change=self._state_changed)

    async def _release_when_idle(self, every: float = 0.5) -> None:
        """Let other llmspell processes at the database while this run doesn't need it."""
        while True:
            await asyncio.sleep(every)
            st = self._store
            if st is not None and hasattr(st, "release_if_idle"):
                self.events.flush()
                st.release_if_idle()

    def breaker(self, provider: str) -> Any:
        """One circuit breaker per provider, shared by every agent of this runtime."""
        b = self._breakers.get(provider)
        if b is None:
            from .core.resilience import CircuitBreaker
            from .providers import provider_settings
            s = provider_settings(self.config, provider)
            b = self._breakers[provider] = CircuitBreaker(
                provider, int(s.get("circuit_threshold", 5)), float(s.get("circuit_reset", 30.0)),
                lambda name, state: self.events.emit(f"circuit.{state}", {"provider": name}, name))
        return b

    def limiter(self, provider: str) -> Any:
        lim = self._limiters.get(provider)
        if lim is None:
            from .core.resilience import RateLimiter
            from .providers import provider_settings
            s = provider_settings(self.config, provider)
            lim = self._limiters[provider] = RateLimiter(s.get("rpm"), s.get("tpm"))
        return lim

    def agent_limiter(self, agent: str, rpm: float | None, tpm: float | None) -> Any:
        key = "agent:" + agent
        lim = self._limiters.get(key)
        if lim is None:
            from .core.resilience import RateLimiter
            lim = self._limiters[key] = RateLimiter(rpm, tpm)
        return lim

    def _state_changed(self, ns: str, key: str, op: str) -> None:
        self.events.emit("state.changed", {"key": key, "namespace": ns or None, "op": op}, "storage")

    def _handler_failed(self, sub: Any, e: BaseException) -> None:
        msg = e.located() if isinstance(e, LLMSpellError) else f"{type(e).__name__}: {e}"
        print(f"warning: event handler for '{sub.pattern}' failed: {msg}", file=sys.stderr)

    @property
    def http(self) -> Any:
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
        p = Path(path)
        if not p.is_file():
            raise SpellFailed(4002, f"spell file not found: {path}", type_="NotFound")
        eng = engine or ENGINES.get(p.suffix.lower())
        if eng is None:
            raise LLMSpellError(4007, f"cannot tell the engine of {p.name} from its extension; "
                                "use --engine lua|js", type_="UsageError")
        try:
            display = os.path.relpath(p)
        except ValueError:
            display = str(p)
        if display.startswith(".."):
            display = str(p.resolve())
        run = SpellRun(self, engine=eng, params=params or {}, args=args or [],
                       spell_dir=str(p.resolve().parent), display=display)
        return await run.execute(lambda e: e.load_file(str(p), display))

    def run(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
            args: list[str] | None = None) -> Any:
        return asyncio.run(self._own_loop(self.arun(code, engine, params, args)))

    async def arun(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
                   args: list[str] | None = None) -> Any:
        """Run inline code; returns its value."""
        return (await self.arun_code(code, engine, params, args)).value

    async def arun_code(self, code: str, engine: str = "lua", params: dict[str, Any] | None = None,
                        args: list[str] | None = None, name: str = "exec") -> RunResult:
        run = SpellRun(self, engine=engine, params=params or {}, args=args or [],
                       spell_dir=str(self.cwd), display=name)
        return await run.execute(lambda e: e.load_string(code, "=" + name))


def make_engine(kind: str, run: "SpellRun") -> Any:
    if kind == "lua":
        from .engines.lua import LuaEngine
        return LuaEngine(run)
    if kind in ("js", "javascript"):
        from .engines.js import JsEngine
        return JsEngine(run)
    raise LLMSpellError(4007, f"unknown engine {kind!r} (use lua or js)", type_="UsageError")


class ToolContext:
    """What a tool implementation may use: security policy, config, http, the run."""

    def __init__(self, run: "SpellRun") -> None:
        self.run = run
        self.runtime = run.runtime
        self.config = run.config
        self.security = run.config.settings.security

    @property
    def http(self) -> Any:
        return self.runtime.http

    @property
    def cwd(self) -> Path:
        return self.runtime.cwd


class SpellRun:
    def __init__(self, runtime: Runtime, *, engine: str, params: dict[str, Any], args: list[str],
                 spell_dir: str | None, display: str, run_id: str | None = None) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.tools = runtime.tools
        self.hooks = runtime.hooks
        self.events = runtime.events
        self.engine_kind = engine
        self.params = params
        self.args = args
        self.spell_dir = spell_dir
        self.display = display
        self.id = run_id or uuid.uuid4().hex[:12]
        self.debug = runtime.debug
        self.limit = self.config.settings.security.max_execution_time
        self.deadline = float("inf")
        self.scheduler_jobs: list[dict[str, Any]] = []
        self.tool_context = ToolContext(self)
        self.out: TextIO | None = runtime.stdout
        self.engine: Any = None
        self.usage: dict[tuple[str, str], Any] = {}    # (agent, model) → Usage
        self.resume_id: str | None = runtime.resume_id
        self.daemon: Any = runtime.daemon       # set under `llmspell serve`: Scheduler jobs are live
        self._kvs: dict[str, Any] = {}

    def take_resume(self, workflow: str) -> str | None:
        """The run id given by `--resume`, for the first checkpointed workflow it belongs to."""
        rid = self.resume_id
        if rid is None:
            return None
        rec = self.kv("workflows").get(rid)
        if rec is None:
            raise LLMSpellError(3001, f"no workflow run {rid!r} to resume",
                                suggestions=["`llmspell runs list` shows runs"], type_="NotFound")
        if rec.get("workflow") != workflow:
            return None
        self.resume_id = None
        return rid

    def kv(self, namespace: str = "") -> Any:
        kv = self._kvs.get(namespace)
        if kv is None:
            kv = self._kvs[namespace] = self.runtime.kv(namespace)
        return kv

    def write(self, text: str) -> None:
        out = self.out or sys.stdout
        out.write(text + "\n")

    def write_raw(self, text: str) -> None:
        """Write without a newline and flush, so streamed text shows live."""
        out = self.out or sys.stdout
        out.write(text)
        out.flush()

    def record_usage(self, model: str, agent: str, resp: Any) -> None:
        from .core.resilience import Usage
        u = self.usage.get((agent, model))
        if u is None:
            u = self.usage[(agent, model)] = Usage()
        u.add(resp.prompt_tokens, resp.completion_tokens, resp.cost)

    def usage_total(self) -> Any:
        from .core.resilience import Usage
        t = Usage()
        for u in self.usage.values():
            t.add(u.prompt_tokens, u.completion_tokens, u.cost)
            t.calls += u.calls - 1
        return t

    def usage_summary(self) -> list[dict[str, Any]]:
        return [{"agent": a, "model": m, **u.to_dict()} for (a, m), u in sorted(self.usage.items())]

    def timeout_message(self) -> str:
        return f"spell exceeded security.max_execution_time ({self.limit:g}s)"

    def memory_message(self) -> str:
        mb = self.config.settings.security.max_memory / 1e6
        return f"spell exceeded security.max_memory ({mb:g} MB)"

    async def execute(self, load: Callable[[Any], Any], keep: bool = False) -> RunResult:
        """Run the spell's top level. With `keep` (the daemon) its engine and
        registrations stay alive after it returns, until `finish()`."""
        from .api.registry import load_all
        load_all()
        t0 = time.perf_counter()
        self.deadline = time.monotonic() + self.limit
        self.engine = make_engine(self.engine_kind, self)
        bus = self.events
        idle = asyncio.get_running_loop().create_task(self.runtime._release_when_idle())
        try:
            chunk = load(self.engine)
            if self.hooks.by_point.get("system_startup"):
                await self.hooks.run("system_startup", {"point": "system_startup", "component": "system",
                                                        "name": self.display, "run_id": self.id})
            bus.emit("spell.started", {"spell": self.display, "run_id": self.id, "engine": self.engine_kind},
                     self.display)
            try:
                async with asyncio.timeout(self.limit):
                    value = await self.engine.run_main(chunk)
                    await bus.drain()
            except TimeoutError:
                raise SpellFailed(4004, self.timeout_message(), source=self.display, type_="ExecutionTimeout") from None
            ms = (time.perf_counter() - t0) * 1000
            bus.emit("spell.completed", {"spell": self.display, "run_id": self.id, "duration_ms": round(ms, 3)},
                     self.display)
            return RunResult(self.id, value, ms, self.scheduler_jobs, self.usage_summary())
        except LLMSpellError as e:
            bus.emit("spell.failed", {"spell": self.display, "run_id": self.id, "error": e.to_dict()},
                     self.display)
            raise
        finally:
            if self.hooks.by_point.get("system_shutdown"):
                try:
                    await self.hooks.run("system_shutdown", {"point": "system_shutdown", "component": "system",
                                                             "name": self.display, "run_id": self.id})
                except LLMSpellError as e:
                    log.warning("system_shutdown hook failed: %s", e)
            idle.cancel()
            if not keep:
                self.finish()

    def finish(self) -> None:
        rt = self.runtime
        rt.hooks.remove_owner(self)
        rt.events.remove_owner(self)
        rt.tools.remove_owner(self)
        for name in [n for n, a in rt.agents.items() if a.owner is self]:
            del rt.agents[name]
        rt.events.flush()
        if self.engine is not None:
            self.engine.close()


class Session:
    """A long-lived engine for the REPL: each `eval` runs a chunk in the same globals."""

    def __init__(self, runtime: Runtime, engine: str = "lua") -> None:
        from .api.registry import load_all
        load_all()
        self.run = SpellRun(runtime, engine=engine, params={}, args=[], spell_dir=str(runtime.cwd),
                            display="repl")
        self.run.engine = make_engine(engine, self.run)
        self.n = 0

    async def eval(self, code: str) -> Any:
        self.n += 1
        run = self.run
        run.deadline = time.monotonic() + run.limit
        name = f"=repl:{self.n}"
        if hasattr(run.engine, "load_repl"):
            chunk = run.engine.load_repl(code, self.n)
        else:
            try:
                chunk = run.engine.load_string("return " + code, name)
            except LLMSpellError:
                chunk = run.engine.load_string(code, name)
        try:
            async with asyncio.timeout(run.limit):
                try:
                    value = await run.engine.run_main(chunk)
                    await run.events.drain()
                finally:
                    if hasattr(run.engine, "settle"):
                        await run.engine.settle()
        except TimeoutError:
            raise SpellFailed(4004, run.timeout_message(), type_="ExecutionTimeout") from None
        return value

    async def close(self) -> None:
        self.run.finish()

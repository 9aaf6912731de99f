"""The JavaScript engine: QuickJS through jsbox, behind the same engine interface.

A spell is an ES module (top-level await, `import { Agent } from "llmspell"`,
relative imports of modules next to it). Host calls return Promises settled
from asyncio. jsbox runs one evaluation at a time, so the spell's evaluation
stays open for the whole run and Python calls back into JS (hooks, handlers,
tool functions) through a job pump inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..boundary import (
    CLASS,
    ERROR,
    ERROR_FLAG,
    FN,
    FNREF,
    HANDLE,
    VIEW,
    ErrorValue,
    Handles,
    LazyView,
    ObjectRef,
    ScriptFunction,
)
from ..bridge.dispatch import bind, call_sync, settle, start_eager
from ..errors import Code, LLMSpellError, SpellFailed
from ..paths import builtins_dir, display_path
from ..version import __version__

if TYPE_CHECKING:
    from ..api.registry import ApiRegistry
    from .base import EngineHost

_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\2""")
_MODULE_SYNTAX = re.compile(r"^\s*(import|export)\b", re.M)
_PLAIN = {str, int, float, bool, type(None)}
_FRAME = re.compile(r"\(?([^\s()]+):(\d+):\d+\)?\s*$")


class JsEngine:
    name = "javascript"

    def __init__(self, run: "EngineHost", registry: "ApiRegistry") -> None:
        try:
            import jsbox
        except ImportError:  # pragma: no cover - a dependency
            raise LLMSpellError(
                Code.SCRIPT_API_NOT_AVAILABLE, "the JavaScript engine needs the jsbox package"
            ) from None
        self.jsbox = jsbox
        self.run = run
        sec = run.config.settings.security
        # many overlapping host calls (Async.all over 100s of branches) are normal here
        self.rt = jsbox.Runtime(memory_limit=sec.max_memory, max_pending_calls=100_000)
        self.handles = Handles()
        self._functions = registry.functions
        self._jobs: asyncio.Queue[Any] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._job_seq = 0
        self._main: asyncio.Future[Any] | None = None
        self._eval: asyncio.Future[Any] | None = None
        self._modules: set[str] = set()
        self._inflight = 0       # host calls JS is waiting on
        self._tokens = 0
        self._waiting: dict[int, Any] = {}
        self._progress = 0       # host calls made so far (a heartbeat)
        b = self.rt.bind_function
        b("__call", self._call_sync)
        b("__call_eager", self._call_eager)
        b("__await", self._await)
        b("__next_job", self._next_job)
        b("__job_done", self._job_done)
        b("__main_done", self._main_done)
        b("__view_get", self._view_get)
        b("__view_keys", self._view_keys)
        b("__sleep", self._sleep)
        b("__write", self._write)
        self.rt.bind_object("__decls", [{"owner": f.owner, "name": f.name, "index": f.index, "waits": f.waits,
                                         "is_async": f.is_async, "is_method": f.is_method} for f in self._functions])
        self.rt.bind_object("ENGINE", "javascript")
        self.rt.bind_object("VERSION", __version__)
        self.rt.bind_object("params", json.loads(json.dumps(run.params, default=str)))
        self.rt.bind_object("args", list(run.args))
        self.rt.eval((builtins_dir() / "js" / "prelude.js").read_text())
        names = list(registry.globals) + ["print", "log", "ioWrite"]
        exports = "\n".join(f"export const {g} = globalThis.{g};" for g in names)
        self.rt.add_static_module("llmspell", exports + "\nexport default { " + ", ".join(names) + " };\n")

    # -- conversion ---------------------------------------------------------------
    def to_py(self, v: Any, depth: int = 0) -> Any:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            return v
        if isinstance(v, dict):
            if not v:
                return v
            if FN in v and len(v) == 1:
                return ScriptFunction(self, v[FN])
            if HANDLE in v and len(v) == 1:
                return self.handles.get(v[HANDLE])
            if VIEW in v and len(v) == 1:
                view = self.handles.get(v[VIEW])
                return view.data if isinstance(view, LazyView) else None
            if v.get(ERROR_FLAG) is True:
                return {k: x for k, x in v.items() if k != ERROR_FLAG and x is not None}
            return {k: self.to_py(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [self.to_py(x, depth + 1) for x in v]
        if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
            return int(v)      # JS has one number type; whole numbers are integers to Python
        return v

    def to_js(self, v: Any) -> Any:
        t = type(v)
        if t is str or t is int or t is float or t is bool or v is None:
            return v
        if t is dict:
            conv = self.to_js
            return {k if type(k) is str else str(k): (x if type(x) in _PLAIN else conv(x)) for k, x in v.items()}
        if t is list:
            conv = self.to_js
            return [x if type(x) in _PLAIN else conv(x) for x in v]
        if isinstance(v, ErrorValue):
            return {ERROR: dict(v)}
        if isinstance(v, dict):
            return {str(k): self.to_js(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.to_js(x) for x in v]
        if isinstance(v, ObjectRef):
            return {CLASS: v.cls, HANDLE: self.handle(v.obj),
                    **{k: self.to_js(x) for k, x in v.fields.items()}}
        if isinstance(v, LazyView):
            return {VIEW: self.handle(v)}
        if isinstance(v, ScriptFunction) and v.engine is self:
            return {FNREF: v.ref}
        if isinstance(v, LLMSpellError):
            return {ERROR: v.to_dict()}
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if hasattr(v, "isoformat"):
            return v.isoformat()
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"cannot pass a Python {type(v).__name__} to JavaScript")

    def handle(self, obj: Any) -> int:
        return self.handles.add(obj)

    def _err(self, e: LLMSpellError) -> dict[str, Any]:
        return e.to_dict()

    # -- host functions -------------------------------------------------------------
    def _call_sync(self, idx: int, raw: list[Any]) -> list[Any]:
        self._progress += 1
        f = self._functions[idx]
        try:
            args = bind(f, [self.to_py(a) for a in raw], self.run, self.handles, camel_case=True)
        except LLMSpellError as e:
            return [False, self._err(e)]
        return list(call_sync(f, self.run, args, self.to_js, self._err))

    def _call_eager(self, idx: int, raw: list[Any]) -> list[Any]:
        """[1, value] / [0, error] when the call finished at once, [2, token] when it waits."""
        self._progress += 1
        f = self._functions[idx]
        try:
            args = bind(f, [self.to_py(a) for a in raw], self.run, self.handles, camel_case=True)
            state, value = start_eager(f, self.run, args)
            if state == "done":
                return [1, self.to_js(value)]
            if state == "error":
                return [0, self._err(value)]
        except LLMSpellError as e:
            return [0, self._err(e)]
        self._inflight += 1
        self._tokens += 1
        self._waiting[self._tokens] = (f, value)
        return [2, self._tokens]

    async def _await(self, token: int) -> list[Any]:
        f, task = self._waiting.pop(token)
        try:
            ok, value = await settle(f, self.run, task)
        finally:
            self._inflight -= 1
        return [True, self.to_js(value)] if ok else [False, self._err(value)]

    async def call_batch(self, ref: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
        """Call one JS function once per argument tuple, in order, in a single job.
        Returns one error (or None) per call."""
        return await self._job(-1, [ref, [[self.to_js(a) for a in args] for args in calls]])

    def _queue(self) -> asyncio.Queue[Any]:
        if self._jobs is None:
            self._jobs = asyncio.Queue()
        return self._jobs

    async def _next_job(self) -> Any:
        return await self._queue().get()

    def _job_done(self, jid: int, ok: bool, value: Any) -> None:
        self._progress += 1
        fut = self._pending.pop(jid, None)
        if fut is not None and not fut.done():
            fut.set_result((ok, value))

    def _main_done(self, ok: bool, value: Any) -> None:
        if self._main is not None and not self._main.done():
            self._main.set_result((ok, value))

    def _view_get(self, hid: int, key: str) -> Any:
        view = self.handles.get(hid)
        return self.to_js(view.data.get(key)) if isinstance(view, LazyView) else None

    def _view_keys(self, hid: int) -> list[str]:
        view = self.handles.get(hid)
        return sorted(view.data) if isinstance(view, LazyView) else []

    async def _sleep(self, seconds: float) -> None:
        self._progress += 1
        self._inflight += 1
        try:
            await asyncio.sleep(max(0.0, float(seconds)))
        finally:
            self._inflight -= 1

    def _write(self, text: str, stderr: bool = False) -> None:
        import sys
        if stderr:
            sys.stderr.write(text)
        else:
            self.run.write_raw(text)

    # -- modules ------------------------------------------------------------------------
    def _register(self, name: str, code: str, base: str | None) -> None:
        """Register a module, first registering the modules it imports next to it
        (their specifiers rewritten to canonical names inside the spell's folder)."""
        root = os.path.realpath(self.run.spell_dir or ".")

        def rewrite(m: re.Match[str]) -> str:
            spec = m.group(3)
            if spec == "llmspell":
                return m.group(0)
            if not spec.startswith(("./", "../")):
                raise SpellFailed(
                    Code.SCRIPT_SECURITY_VIOLATION,
                    f"import of '{spec}' is not allowed: only 'llmspell' and modules "
                    "next to the spell can be imported",
                    source=name,
                )
            if base is None:
                raise SpellFailed(Code.SCRIPT_RUNTIME_ERROR, f"import '{spec}': inline code has no folder", source=name)
            target = os.path.join(os.path.dirname(base), spec)
            if not target.endswith((".js", ".mjs")) and os.path.isfile(target + ".js"):
                target += ".js"
            target = os.path.realpath(target)     # after the extension: 'x.js' may be a link out
            if os.path.commonpath([root, target]) != root:
                raise SpellFailed(
                    Code.SCRIPT_SECURITY_VIOLATION,
                    f"import '{spec}' resolves outside the spell's folder",
                    source=name,
                )
            if not os.path.isfile(target):
                raise SpellFailed(
                    Code.SCRIPT_RUNTIME_ERROR, f"import '{spec}': module not found ({target})", source=name
                )
            if not target.endswith((".js", ".mjs")):     # never a data file (llmspell.toml …) run as code
                raise SpellFailed(
                    Code.SCRIPT_SECURITY_VIOLATION,
                    f"import '{spec}' is not allowed: only .js and .mjs modules can be imported",
                    source=name,
                )
            canon = display_path(target)
            if canon not in self._modules:
                self._register(canon, Path(target).read_text(encoding="utf-8"), target)
            return f"{m.group(1)}{m.group(2)}{canon}{m.group(2)}"
        self._modules.add(name)
        code = _IMPORT.sub(rewrite, code)
        self.rt.add_static_module(name, code)

    def load_file(self, path: str, display: str) -> Any:
        try:
            code = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpellFailed(Code.SCRIPT_SYNTAX_ERROR, "spell is not UTF-8 text", source=display) from None
        if code.startswith("#!"):
            code = "//" + code
        if not _MODULE_SYNTAX.search(code) and re.search(r"^\s*return\b", code, re.M):
            code = "export default await (async () => {" + code + "\n})();"
        self._register(display, code, os.path.realpath(path))
        return display

    def load_string(self, code: str, chunkname: str) -> Any:
        name = chunkname.lstrip("=@") or "exec"
        if not _MODULE_SYNTAX.search(code):
            code = "export default await (async () => {" + code + "\n})();"
        self._register(name, code, None)
        return name

    def load_repl(self, code: str, n: int) -> Any:
        """A console input runs as a global script, so `x = 1` and functions persist."""
        return ("expr", f"__llmspell.repl({json.dumps(code)})")

    async def settle(self) -> None:
        """End the current evaluation (the REPL starts a new one per input)."""
        if self._jobs is not None:
            self._jobs.put_nowait(None)
        if self._eval is not None:
            try:
                await self._eval
            except Exception:
                pass
        self._jobs = None
        self._eval = None

    # -- running ----------------------------------------------------------------------
    def _remaining(self) -> float:
        left = self.run.deadline - time.monotonic()
        return max(0.05, min(left, 10 ** 7)) if left != float("inf") else 10 ** 7

    def _eval_failure(self) -> SpellFailed:
        assert self._eval is not None
        exc = self._eval.exception() if not self._eval.cancelled() else None
        if isinstance(exc, self.jsbox.JsTimeoutError):
            return SpellFailed(Code.SCRIPT_EXECUTION_TIMEOUT, self.run.timeout_message(), source=self.run.display)
        msg = str(exc or "the JavaScript runtime stopped")
        # a bare "null" means even the error could not be built: the heap is full
        if "out of memory" in msg or msg.strip() == "null":
            return SpellFailed(Code.SCRIPT_MEMORY_LIMIT_EXCEEDED, self.run.memory_message(), source=self.run.display)
        first = msg.strip().split("\n")[0]
        m = _FRAME.search(msg.strip().split("\n")[1]) if "\n" in msg.strip() else None
        return SpellFailed(
            Code.SCRIPT_RUNTIME_ERROR, first, source=f"{m.group(1)}:{m.group(2)}" if m else self.run.display
        )

    async def run_main(self, name: Any) -> Any:
        loop = asyncio.get_running_loop()
        self._main = loop.create_future()
        load = name[1] if isinstance(name, tuple) else f"import({json.dumps(name)}).then((m) => m.default)"
        boot = f"__llmspell.boot(() => {load})"
        # QuickJS's deadline is fixed when an evaluation starts, and a resident spell's
        # evaluation lasts as long as the spell is loaded: it gets none (its jobs' limits
        # are kept by the daemon; waiting code is bounded by asyncio either way).
        limit = None if self.run.resident else self._remaining() + 0.5
        self._eval = asyncio.ensure_future(self.rt.eval_async(boot, timeout=limit))
        assert self._eval is not None
        await self._watch(self._main)
        if not self._main.done():
            raise self._eval_failure()
        ok, value = self._main.result()
        if ok:
            return self.to_py(value)
        raise await self._failure_checked(self.to_py(value))

    async def call_function(self, ref: Any, args: tuple[Any, ...]) -> Any:
        return await self._job(ref, [self.to_js(a) for a in args])

    async def _job(self, ref: Any, payload: Any) -> Any:
        if self._eval is None or self._eval.done():
            raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "the JavaScript runtime of this spell is no longer running")
        loop = asyncio.get_running_loop()
        self._job_seq += 1
        jid = self._job_seq
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[jid] = fut
        self._queue().put_nowait([jid, ref, payload])
        await self._watch(fut)
        if not fut.done():
            self._pending.pop(jid, None)
            raise self._eval_failure()
        ok, value = fut.result()
        if ok:
            return self.to_py(value)
        raise await self._failure_checked(self.to_py(value))

    async def _failure_checked(self, err: Any) -> SpellFailed:
        """QuickJS throws a bare null, with no location, when it cannot allocate an
        error object; by the time it is reported the heap may be free again."""
        if isinstance(err, dict) and err.get("message") == "null" and not err.get("source"):
            return SpellFailed(
                Code.SCRIPT_MEMORY_LIMIT_EXCEEDED,
                self.run.memory_message() + " (QuickJS raised a bare null: out of memory)",
                source=self.run.display,
            )
        return self._failure(err)

    def _failure(self, err: Any) -> SpellFailed:
        if not isinstance(err, dict):
            err = {"code": int(Code.SCRIPT_RUNTIME_ERROR), "message": str(err)}
        if err.get("message") == "out of memory":
            return SpellFailed(
                Code.SCRIPT_MEMORY_LIMIT_EXCEEDED,
                self.run.memory_message(),
                source=err.get("source") or self.run.display,
            )
        if err.get("type") == "SyntaxError":
            err["code"] = int(Code.SCRIPT_SYNTAX_ERROR)
        return SpellFailed.from_dict(err)

    async def _watch(self, fut: asyncio.Future[Any]) -> None:
        """Wait for `fut` or the end of the evaluation. When JS stops making host
        calls with nothing in flight it cannot progress: probe it. No answer means
        its heap is exhausted (4005); an answer while the main script waits on
        nothing means it awaits a promise that can never settle."""
        assert self._eval is not None
        last, quiet = -1, 0
        while True:
            done, _ = await asyncio.wait({fut, self._eval}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            if done:
                return
            idle = self._inflight == 0 and self._queue().empty() and self._progress == last
            quiet = quiet + 1 if idle else 0
            last = self._progress
            if quiet < 2:
                continue
            if not await self._probe():
                raise SpellFailed(Code.SCRIPT_MEMORY_LIMIT_EXCEEDED, self.run.memory_message(), source=self.run.display)
            if fut is self._main and not self._pending:
                raise SpellFailed(
                    Code.SCRIPT_RUNTIME_ERROR,
                    "the spell is waiting on a promise that nothing can settle",
                    source=self.run.display,
                    suggestions=["is an `await` missing a resolve call?"],
                )
            quiet = 0

    async def _probe(self) -> bool:
        loop = asyncio.get_running_loop()
        self._job_seq += 1
        jid = self._job_seq
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[jid] = fut
        self._queue().put_nowait([jid, 0, []])
        try:
            ok, _ = await asyncio.wait_for(asyncio.shield(fut), 0.5)
            return bool(ok)
        except (asyncio.TimeoutError, TimeoutError):
            return False
        finally:
            self._pending.pop(jid, None)

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put_nowait(None)     # ends the pump; the evaluation then finishes
        elif self._eval is not None and not self._eval.done():
            self._eval.cancel()
        self.handles.clear()

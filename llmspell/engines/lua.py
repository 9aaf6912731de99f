"""The Lua 5.4 engine (lupa): sandboxed runtime, limits, and the coroutine driver.

A spell (and every callback into it) runs as a Lua coroutine. Calls into the
declared API either return directly (sync Python) or yield a request that the
driver awaits on the asyncio loop before resuming the coroutine with the result.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa

from ..boundary import HANDLE, VIEW, ErrorValue, Handles, LazyView, ObjectRef, ScriptFunction
from ..bridge.dispatch import bind, call_async, call_sync
from ..deadline import limit_at, limit_message
from ..errors import Code, LLMSpellError, SpellFailed
from ..paths import builtins_dir, display_path
from ..version import __version__

if TYPE_CHECKING:
    from ..api.registry import ApiRegistry
    from .base import EngineHost

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_lua_type = lupa.lua_type
_CHECK_EVERY = 1 << 18        # check the memory room after every 256 KiB (estimated) written into Lua
_STRING_COST = 40             # estimated Lua bytes per string beyond its characters
_TABLE_COST, _ENTRY_COST = 160, 64      # ... per table, and per entry of a table


def _deny_attributes(obj: Any, attr: Any, is_setting: bool) -> Any:
    raise AttributeError("Python attributes are not accessible from spells")


class LuaEngine:
    name = "lua"

    def __init__(self, run: "EngineHost", registry: "ApiRegistry") -> None:
        self.run = run
        sec = run.config.settings.security
        self.lua = lupa.LuaRuntime(unpack_returned_tuples=True, register_eval=False,
                                   register_builtins=False, max_memory=sec.max_memory,
                                   attribute_filter=_deny_attributes)
        self.lua.globals()["python"] = None
        self.handles = Handles()
        self._calls = 0
        self._pending = 0            # bytes written into Lua since the last room check
        self._max_memory = sec.max_memory
        self._functions = registry.functions
        host = self.lua.table_from({
            "call": self._call_sync, "check": self._check_time, "load_module": self._load_module,
            "timeout_message": lambda: limit_message(run),
            "memory_message": run.memory_message,
            "debug": bool(run.debug), "hook_every": 10000, "req_secret": secrets.token_hex(16),
            "view_get": self._view_get, "view_keys": self._view_keys,
        })
        prelude = (builtins_dir() / "lua" / "prelude.lua").read_text()
        self.m = self.lua.eval(
            "function(src, host) return assert(load(src, '=prelude', 't'))(host) end")(prelude, host)
        decls = [self.lua.table_from({"owner": f.owner, "name": f.name, "index": f.index,
                                      "is_async": f.is_async, "is_method": f.is_method})
                 for f in self._functions]
        self.m.install(self.lua.table_from(decls))
        self.env = self.m.env
        self.env.ENGINE = "lua"
        self.env.VERSION = __version__
        self._new_object = self.m.new_object
        self._make_error = self.m.make_error
        self._table = self.lua.table_from
        self._new_view = self.m.new_view
        self._spawn = self.m.spawn
        self._REQ = self.m.REQ
        self._rehome = self.lua.eval("function(f) return f end")
        self.env.params = self.to_lua(run.params)
        self.env.args = self.to_lua(list(run.args))
        self.m.sugar()

    # -- limits ---------------------------------------------------------------
    def _check_time(self) -> bool:
        # the limit of the work running now: a daemon job firing's own (jobs of a resident
        # spell share this engine, each firing with its own limit), else the run's
        return time.monotonic() > limit_at(self.run)

    # -- modules ----------------------------------------------------------------
    def _load_module(self, name: str) -> tuple[Any, ...]:
        base = self.run.spell_dir
        if not _MODULE_NAME.match(str(name)):
            return False, self._err(
                LLMSpellError(
                    Code.SCRIPT_SECURITY_VIOLATION,
                    f"require: {name!r} is not a module name; " "only modules next to the spell can be required",
                    suggestions=["require('helpers') loads helpers.lua next to the spell"],
                )
            )
        if base is None:
            return False, self._err(
                LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"require: no module {name!r} (inline code has no folder)")
            )
        rel = name.replace(".", "/")
        root = os.path.realpath(base)
        for cand in (os.path.join(base, rel + ".lua"), os.path.join(base, rel, "init.lua")):
            real = os.path.realpath(cand)
            if os.path.isfile(real):
                if os.path.commonpath([root, real]) != root:
                    return False, self._err(
                        LLMSpellError(
                            Code.SCRIPT_SECURITY_VIOLATION, f"require: {name!r} resolves outside the spell's folder"
                        )
                    )
                with open(real, encoding="utf-8") as f:
                    src = f.read()
                return True, src, "@" + display_path(real)
        return False, self._err(
            LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"require: module {name!r} not found next to the spell " f"(looked for {rel}.lua in {base})",
            )
        )

    # -- conversion ------------------------------------------------------------
    def to_py(self, v: Any, _depth: int = 0, _path: str = "") -> Any:
        t = _lua_type(v)
        if t is None:
            return v
        if t == "table":
            # lupa's items() reads raw (lua_next): no __index/__pairs of the spell runs
            # here, on the host's side of the call, where no time limit applies.
            items = list(v.items())
            m = dict(items)
            h = m.get(HANDLE)
            if h is not None:
                return self.handles.get(h)
            h = m.get(VIEW)
            if h is not None:
                view = self.handles.get(h)
                return view.data if isinstance(view, LazyView) else None
            if _depth > 100:
                raise LLMSpellError(
                    Code.SCRIPT_RUNTIME_ERROR,
                    "cannot convert a table that contains itself or is nested over 100 deep " f"(at {_path[:120]})",
                    suggestions=["pass plain data: tables without references back to themselves"],
                )
            n = len(items)
            d = _depth + 1
            if n and all(type(k) is int for k, _ in items):
                keys = sorted(k for k, _ in items)
                if keys[0] == 1 and keys[-1] == n:
                    return [self.to_py(m[i], d, f"{_path}[{i}]") for i in range(1, n + 1)]
            out: dict[Any, Any] = {}
            for k, x in items:
                if not isinstance(k, (str, int, float, bool)):   # never run a key's __tostring here
                    raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR,
                                        f"table keys passed to the API must be strings or numbers, not a "
                                        f"{_lua_type(k)} (at {_path[:120] or 'the top'})")
                if isinstance(k, float) and k.is_integer():
                    k = int(k)
                out[k if isinstance(k, str) else str(k)] = self.to_py(x, d, f"{_path}.{k}" if _path else str(k))
            return out
        if t == "function":
            # lupa ties a wrapper to the lua_State it was read from: inside a call from a
            # spell that is the calling coroutine, which Lua frees when it ends, and dropping
            # the wrapper later writes into freed memory (lupa issue #84). A function the
            # host keeps is re-read on the main state, which lives as long as the runtime.
            return ScriptFunction(self, self._rehome(v))
        if t == "thread":
            raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "cannot pass a coroutine to the API")
        return v

    def to_lua(self, v: Any) -> Any:
        if type(v) is str:
            self._pending += len(v) + _STRING_COST
            if self._pending > _CHECK_EVERY:
                self._check_room()
            return v
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (dict, list, tuple)):
            # over-count on purpose: an empty Lua table costs ~72 bytes for 2 of JSON
            self._pending += _TABLE_COST + _ENTRY_COST * len(v)
            if self._pending > _CHECK_EVERY:
                self._check_room()
        if isinstance(v, dict):
            t = self._table()
            for k, x in v.items():
                t[k] = self.to_lua(x)
            if isinstance(v, ErrorValue):
                return self._make_error(t)
            return t
        if isinstance(v, (list, tuple)):
            t = self._table()
            for i, x in enumerate(v, 1):
                t[i] = self.to_lua(x)
            return t
        if isinstance(v, ObjectRef):
            return self._new_object(v.cls, self.handle(v.obj), self.to_lua(v.fields))
        if isinstance(v, ScriptFunction) and v.engine is self:
            return v.ref
        if isinstance(v, LazyView):
            return self._new_view(self.handle(v))
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, LLMSpellError):
            return self._err(v)
        if hasattr(v, "isoformat"):
            return v.isoformat()
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"cannot pass a Python {type(v).__name__} to Lua")

    def _check_room(self) -> None:
        """Refuse a value before it is written into Lua when it would not fit the
        memory limit: lupa writes table entries outside any protected call, where
        running out of memory is a PANIC that kills the process, not an error."""
        need, self._pending = self._pending, 0
        limit = self._max_memory
        # the margin matters: lupa writes tables outside any protected call, and an
        # allocation failing there unwinds past Python's frames (a wedged process)
        if limit and self.lua.get_memory_used() + need + max(_CHECK_EVERY * 4, limit // 8) > limit:
            raise LLMSpellError(Code.SCRIPT_MEMORY_LIMIT_EXCEEDED,
                                f"{self.run.memory_message()}: a value handed to the spell does not fit in what "
                                f"is left ({self.lua.get_memory_used() / 1e6:.1f} MB in use)",
                                suggestions=["ask for less (a smaller page, fewer rows)", "raise security.max_memory"])

    def _view_get(self, hid: int, key: Any) -> Any:
        view = self.handles.get(hid)
        if not isinstance(view, LazyView):
            return None
        return self.to_lua(view.data.get(key if isinstance(key, str) else str(key)))

    def _view_keys(self, hid: int) -> Any:
        view = self.handles.get(hid)
        return self.to_lua(sorted(view.data) if isinstance(view, LazyView) else [])

    def handle(self, obj: Any) -> int:
        return self.handles.add(obj)

    def _err(self, e: LLMSpellError) -> Any:
        return self._make_error(self.to_lua(e.to_dict()))

    # -- calls from Lua --------------------------------------------------------
    def _call_sync(self, idx: int, *raw: Any) -> tuple[bool, Any]:
        f = self._functions[idx]
        try:
            args = bind(f, [self.to_py(a) for a in raw], self.run, self.handles, camel_case=False)
        except LLMSpellError as e:
            return False, self._err(e)
        return call_sync(f, self.run, args, self.to_lua, self._err)

    async def _call_async(self, idx: int, raw: tuple[Any, ...]) -> tuple[bool, Any]:
        if type(idx) is not int or not 0 <= idx < len(self._functions):
            return False, self._err(LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, "not a call the API knows"))
        f = self._functions[idx]
        try:
            args = bind(f, [self.to_py(a) for a in raw], self.run, self.handles, camel_case=False)
        except LLMSpellError as e:
            return False, self._err(e)
        return await call_async(f, self.run, args, self.to_lua, self._err)

    # -- driving coroutines ------------------------------------------------------
    async def drive(self, co: Any) -> Any:
        REQ = self._REQ
        value: Any = None
        while True:
            try:
                r = co.send(value)
            except UnicodeDecodeError as e:
                # the spell handed a waiting call text that is not UTF-8: lupa could not
                # convert the coroutine's yield. The coroutine waits; answer with an error.
                err = LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"text passed to the API is not valid UTF-8 ({e.reason} "
                                    f"at byte {e.start})")
                if not co:
                    raise SpellFailed(err.code, "the spell returned text that is not valid UTF-8",
                                      source=self.run.display) from None
                value = (False, self._err(err))
                continue
            except lupa.LuaMemoryError:
                raise SpellFailed(
                    Code.SCRIPT_MEMORY_LIMIT_EXCEEDED, self.run.memory_message(), source=self.run.display
                ) from None
            except lupa.LuaError as e:
                raise SpellFailed(Code.SCRIPT_RUNTIME_ERROR, str(e) or "Lua error", source=self.run.display) from None
            if not co:
                ok, v = r
                if ok:
                    return v
                err = self.to_py(v)
                if not isinstance(err, dict):
                    # Out of memory skips the message handler: only a string is left.
                    if "not enough memory" in str(err):
                        raise SpellFailed(
                            Code.SCRIPT_MEMORY_LIMIT_EXCEEDED, self.run.memory_message(), source=self.run.display
                        )
                    err = {"code": int(Code.SCRIPT_RUNTIME_ERROR), "message": str(err)}
                raise SpellFailed.from_dict(err)
            if type(r) is not tuple or not r or r[0] != REQ:
                value = (
                    False,
                    self._err(
                        LLMSpellError(
                            Code.SCRIPT_RUNTIME_ERROR,
                            "coroutine.yield outside of a coroutine created by the spell",
                            suggestions=["use Async.all / Async.sleep for concurrency"],
                        )
                    ),
                )
                continue
            self._calls += 1
            if self._calls % 200 == 0:
                await asyncio.sleep(0)   # let other coroutines run on long call chains
            value = await self._call_async(r[1], r[2:])

    def load_string(self, code: str, chunkname: str) -> Any:
        r = self.m.compile(code, chunkname)
        fn, err = (r if isinstance(r, tuple) else (r, None))
        if fn is None:
            m = re.match(r"^(.*?:\d+): (.*)$", str(err), re.S)
            raise SpellFailed(
                Code.SCRIPT_SYNTAX_ERROR,
                m.group(2) if m else str(err),
                source=m.group(1) if m else chunkname.lstrip("@="),
            )
        return fn

    def load_file(self, path: str, display: str) -> Any:
        try:
            code = Path(path).read_text(encoding="utf-8-sig")     # a BOM is not code
        except UnicodeDecodeError:
            raise SpellFailed(
                Code.SCRIPT_SYNTAX_ERROR, "spell is not UTF-8 text (binary chunks are not allowed)", source=display
            ) from None
        return self.load_string(code, "@" + display)

    async def run_main(self, chunk: Any) -> Any:
        v = await self.drive(self._spawn(chunk, None).coroutine())
        return self.to_py(v)

    async def call_function(self, ref: Any, args: tuple[Any, ...]) -> Any:
        targs = self._table()
        for i, a in enumerate(args, 1):
            targs[i] = self.to_lua(a)
        targs["n"] = len(args)
        return self.to_py(await self.drive(self._spawn(ref, targs).coroutine()))

    def reset_limit(self) -> None:
        """Clear an expired time limit so the next job in this runtime starts afresh."""
        self.m.reset_limit()

    def close(self) -> None:
        self.handles.clear()

"""Script engines behind one protocol (base.Engine); `make_engine` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Code, LLMSpellError

if TYPE_CHECKING:
    from ..api.registry import ApiRegistry
    from .base import Engine, EngineHost

# file extension → engine name
ENGINES = {".lua": "lua", ".js": "js", ".mjs": "js"}


def make_engine(kind: str, host: "EngineHost", registry: "ApiRegistry") -> "Engine":
    """A new engine instance for one run (each import stays lazy: Lua runs never load QuickJS)."""
    if kind == "lua":
        from .lua import LuaEngine
        return LuaEngine(host, registry)
    if kind in ("js", "javascript"):
        from .js import JsEngine
        return JsEngine(host, registry)
    raise LLMSpellError(Code.SCRIPT_API_NOT_AVAILABLE, f"unknown engine {kind!r} (use lua or js)")

"""Built-in tools, one module per category; each registers through `builtin`.

Heavy libraries (httpx, yaml, jinja2, arrow, …) are imported inside the tool
functions, so listing or loading tools stays fast.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core.tools import Tool, ToolRegistry

BUILTINS: list[Tool] = []
_MODULES = ("fs", "web", "data", "utility", "system")


def builtin(name: str, category: str, description: str, schema: dict[str, Any]) -> Callable[[Any], Any]:
    """Declare a built-in tool: `impl(input, ctx)`; the schema is the tool's contract."""
    schema.setdefault("type", "object")
    schema.setdefault("additionalProperties", False)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        BUILTINS.append(Tool(name, description, schema, fn, category=category))
        return fn
    return deco


def register_builtins(registry: ToolRegistry) -> None:
    if not BUILTINS:
        import importlib
        for m in _MODULES:
            importlib.import_module(f"{__name__}.{m}")
    for t in BUILTINS:
        registry.tools[t.name] = Tool(t.name, t.description, t.input_schema, t.impl, t.category)

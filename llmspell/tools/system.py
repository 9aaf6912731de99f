"""System tools: environment_reader (allow-listed, secrets masked)."""

from __future__ import annotations

import fnmatch
import os
import platform
from typing import Any

from ..config import is_secret_name, mask_value
from ..core.tools import ToolContext
from . import builtin


@builtin("environment_reader", "system", "Read allow-listed environment variables (secrets masked)", {
    "properties": {
        "variables": {"type": "array", "items": {"type": "string"}},
        "pattern": {"type": "string", "description": "glob over variable names, e.g. 'LLMSPELL_*'"},
        "include_system_info": {"type": "boolean", "default": False},
        "mask_sensitive": {"type": "boolean", "default": True},
    },
})
def environment_reader(inp: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    allowed = ctx.security.allowed_env

    def ok(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, a) for a in allowed)
    names = list(inp.get("variables") or [])
    if inp.get("pattern"):
        names += sorted(n for n in os.environ if fnmatch.fnmatchcase(n, inp["pattern"]))
    if not names and not inp.get("include_system_info"):
        names = sorted(n for n in os.environ if ok(n))
    values: dict[str, Any] = {}
    denied: list[str] = []
    for n in dict.fromkeys(names):
        if not ok(n):
            denied.append(n)
            continue
        v = os.environ.get(n)
        # Secrets stay masked whatever the spell asks for.
        values[n] = mask_value(v) if v is not None and is_secret_name(n) else v
    out: dict[str, Any] = {"variables": values, "denied": denied}
    if inp.get("include_system_info"):
        out["system"] = {"os": platform.system(), "release": platform.release(), "machine": platform.machine(),
                         "python": platform.python_version(), "cpu_count": os.cpu_count()}
    return out

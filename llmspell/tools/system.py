"""System tools: environment_reader (allow-listed, secrets masked)."""

from __future__ import annotations

import fnmatch
import os
import platform
from typing import Any

from ..config import is_secret_name, mask_value
from ..core.tools import ToolContext
from . import builtin


def _mask_url_password(v: str) -> str:
    """`postgres://user:pw@host/db` → `postgres://user:********@host/db`."""
    if "://" not in v or "@" not in v:
        return v
    import re
    return re.sub(r"(://[^/@:\s]*:)[^/@\s]*@", r"\1********@", v)


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
        # Secrets stay masked whatever the spell asks for (mask_sensitive = false
        # included), allow-listed or not: by name (KEY, TOKEN, SECRET, PASS, AUTH,
        # CREDENTIAL…, see config.is_secret_name), and passwords inside URLs.
        if v is not None:
            values[n] = mask_value(v) if is_secret_name(n) else _mask_url_password(v)
        else:
            values[n] = None
    out: dict[str, Any] = {"variables": values, "denied": denied}
    if inp.get("include_system_info"):
        out["system"] = {"os": platform.system(), "release": platform.release(), "machine": platform.machine(),
                         "python": platform.python_version(), "cpu_count": os.cpu_count()}
    return out

"""The checks file and network tools share: allowed paths and allowed domains."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError


def allowed_roots(ctx: ToolContext) -> list[str]:
    return [os.path.realpath(ctx.config.resolve(p)) for p in ctx.security.allowed_paths]


def check_path(ctx: ToolContext, path: Any, tool: str, *, must_exist: bool = False) -> Path:
    """Resolve `path` (relative to the working directory) and refuse anything that
    lands outside security.allowed_paths — '..' and symlinks included."""
    if not isinstance(path, str) or not path:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'path' must be a non-empty string")
    if "\x00" in path:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'path' contains a NUL byte")
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = ctx.cwd / p
    real = os.path.realpath(p)
    for root in allowed_roots(ctx):
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            break
    else:
        raise LLMSpellError(Code.TOOL_PERMISSION_DENIED, f"{tool}: path '{path}' is outside security.allowed_paths",
                            suggestions=["add its folder to security.allowed_paths in llmspell.toml"])
    rp = Path(real)
    if must_exist and not rp.exists():
        raise LLMSpellError(Code.TOOL_RESOURCE_UNAVAILABLE, f"{tool}: no such file or directory: '{path}'")
    return rp


def check_url(ctx: ToolContext, url: Any, tool: str) -> str:
    if not isinstance(url, str):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'url' must be a string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: '{url}' is not an http(s) URL")
    host = parts.hostname.lower()
    if not any(fnmatch.fnmatchcase(host, pat.lower()) for pat in ctx.security.allowed_domains):
        raise LLMSpellError(Code.TOOL_PERMISSION_DENIED, f"{tool}: domain '{host}' is not in security.allowed_domains",
                            suggestions=["add it to security.allowed_domains in llmspell.toml"])
    return url

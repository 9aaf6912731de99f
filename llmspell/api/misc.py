"""print, log, JSON, Config, ErrorHandler."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ..boundary import ErrorValue
from ..core.context import RunContext
from ..errors import Code, LLMSpellError
from .registry import api

_log = logging.getLogger("llmspell.spell")
_LEVELS = {"trace": 5, "debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40}


@api("print")
def print_(run: RunContext, text: str) -> None:
    """Write a line to the spell's output."""
    run.write(text)


@api("io_write")
def io_write(run: RunContext, *parts: Any) -> None:
    """Write text without a newline (flushed at once, e.g. for streamed replies)."""
    run.write_raw("".join(p if isinstance(p, str) else json.dumps(p) if isinstance(p, (dict, list))
                          else str(p).lower() if isinstance(p, bool) else "nil" if p is None else str(p)
                          for p in parts))


@api("log")
def log(run: RunContext, level: str, message: Any = None, fields: dict[str, Any] | None = None) -> None:
    """Structured log line to stderr: log("info", "msg", { key = value })."""
    if message is None:
        level, message = "info", level
    lvl = _LEVELS.get(str(level).lower())
    if lvl is None:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"log: unknown level {level!r} (use debug, info, warn, error)")
    _log.log(lvl, str(message), extra={"fields": fields or {}, "spell": run.display, "run_id": run.id})


@api("JSON.encode")
def encode(run: RunContext, value: Any, options: dict[str, Any] | None = None) -> str:
    """JSON text of a value; { pretty = true } indents."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True,
                          indent=2 if (options or {}).get("pretty") else None)
    except (TypeError, ValueError) as e:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"JSON.encode: {e}") from None


@api("JSON.decode")
def decode(run: RunContext, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"JSON.decode: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None


@api("Config.get")
def config_get(run: RunContext, key: str | None = None, default: Any = None) -> Any:
    """A value of the merged configuration (dotted key); secrets are masked."""
    v = run.config.get(key)
    return default if v is None else v


_LOC = re.compile(r"^([^\n]*?:\d+): (.*)$", re.S)


@api("ErrorHandler.parse_error")
def parse_error(run: RunContext, err: Any) -> ErrorValue:
    """Any caught error (a table or a plain string) as a structured error table."""
    if isinstance(err, dict) and "code" in err:
        e = LLMSpellError.from_dict(err)
        return ErrorValue(e.to_dict())
    msg = str(err) if not isinstance(err, dict) else str(err.get("message", err))
    m = _LOC.match(msg)
    e = LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, m.group(2) if m else msg, source=m.group(1) if m else None)
    return ErrorValue(e.to_dict())

"""Printing for people (rich, plain when not a terminal) and for machines (--json)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import LLMSpellError, exit_code_for


@dataclass
class Options:
    config: str | None = None
    debug: bool = False
    json: bool = False


OPTS = Options()


def console() -> Any:
    from rich.console import Console
    return Console(highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def show_value(value: Any) -> None:
    """A string as it is, anything else as JSON."""
    if isinstance(value, str):
        sys.stdout.write(value + "\n")
    else:
        emit_json(value)


def fail(exc: BaseException) -> int:
    """Report an error the way a person should see it; return the exit code."""
    code = exit_code_for(exc)
    if OPTS.json:
        body = exc.to_dict() if isinstance(exc, LLMSpellError) else {"message": str(exc)}
        sys.stdout.write(json.dumps({"status": "error", "error": body}, ensure_ascii=False, indent=2) + "\n")
        return code
    if isinstance(exc, LLMSpellError):
        msg = exc.located()
        hints = exc.suggestions
    else:
        msg, hints = f"{type(exc).__name__}: {exc}", []
    err = sys.stderr
    color = err.isatty()
    err.write(("\x1b[1;31merror:\x1b[0m " if color else "error: ") + msg + "\n")
    for h in hints:
        err.write(("  \x1b[2mhint:\x1b[0m " if color else "  hint: ") + str(h) + "\n")
    tb = getattr(exc, "details", {}) or {}
    if OPTS.debug and isinstance(exc, LLMSpellError) and tb.get("traceback"):
        err.write(str(tb["traceback"]) + "\n")
    return code

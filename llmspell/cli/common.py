"""Shared CLI helpers: building the runtime and logging from the global options."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import UsageError
from .output import OPTS


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, r: logging.LogRecord) -> str:
        fields = getattr(r, "fields", None) or {}
        if self.as_json:
            d = {"ts": round(r.created, 3), "level": r.levelname.lower(), "msg": r.getMessage(),
                 "logger": r.name, **({"run_id": r.run_id} if hasattr(r, "run_id") else {}), **fields}
            return json.dumps(d, default=str)
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"[{r.levelname.lower()}] {r.getMessage()}" + (f" {extra}" if extra else "")


def setup_logging(level: str, fmt: str) -> None:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_Formatter(fmt == "json"))
    root = logging.getLogger("llmspell")
    root.handlers[:] = [h]
    root.setLevel("DEBUG" if OPTS.debug else level.upper())
    root.propagate = False


def make_runtime(**kw: Any) -> Any:
    from ..runtime import Runtime
    rt = Runtime(OPTS.config, debug=OPTS.debug, **kw)
    obs = rt.config.settings.observability
    setup_logging(obs.log_level, obs.log_format)
    return rt


@contextmanager
def open_runtime() -> Iterator[Any]:
    """`make_runtime()`, closed when the block ends (for commands that use the store)."""
    rt = make_runtime()
    try:
        yield rt
    finally:
        rt.close()


_INT64 = (-(2**63), 2**63 - 1)


def _int_or_text(text: str) -> int | str:
    """A JSON integer; one neither engine holds exactly (outside 64 bits) stays the text
    it was written as: turning it into a float would change its digits without a word."""
    n = int(text)
    return n if _INT64[0] <= n <= _INT64[1] else text


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """`--param key=value`: the value as JSON when it parses (integers too large for 64
    bits stay strings, also inside arrays and objects), else the string as given."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--param expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        if not k:
            raise UsageError(f"--param has an empty key in {item!r}")
        try:
            out[k] = json.loads(v, parse_int=_int_or_text)
        except ValueError:
            out[k] = v
    return out

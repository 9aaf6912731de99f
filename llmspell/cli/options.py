"""The one declaration of the global options and of `run`'s options.

`fast.py` parses `llmspell [global opts] run SPELL …` from these specs without
typer (so `llmspell run` starts fast); `typer_params` turns the same specs into
the typer options of the full CLI. This module must not import typer at import
time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional

if TYPE_CHECKING:
    import inspect


class Opt:
    """One option: `dest` is the command function's parameter name, `flags` the
    long flag then the short one if any; `kind` is "value" (one string, the last
    one given wins), "multi" (repeatable, a list) or "flag" (a bool).
    (A plain class: a NamedTuple or dataclass costs ~1 ms of start-up.)"""

    __slots__ = ("dest", "flags", "help", "kind")

    def __init__(self, dest: str, flags: tuple[str, ...], help: str, kind: str = "value") -> None:
        self.dest, self.flags, self.help, self.kind = dest, flags, help, kind


GLOBAL_OPTS = (
    Opt("config", ("--config", "-c"), "Config file (merged over ./llmspell.toml)."),
    Opt("debug", ("--debug",), "Show Python tracebacks and debug logs.", "flag"),
    Opt("json", ("--json",), "Machine-readable output.", "flag"),
)

RUN_OPTS = (
    Opt("param", ("--param", "-p"), "key=value (JSON values parse).", "multi"),
    Opt("engine", ("--engine", "-e"), "lua or js (default: from the extension)."),
    Opt("resume", ("--resume",), "Continue a checkpointed workflow run."),
)


def defaults(specs: tuple[Opt, ...]) -> dict[str, Any]:
    """What each option is when not given (as typer passes it)."""
    return {o.dest: False if o.kind == "flag" else None for o in specs}


def typer_params(specs: tuple[Opt, ...]) -> list[inspect.Parameter]:
    """The specs as keyword parameters with typer.Option defaults."""
    import inspect

    import typer
    types = {"flag": bool, "multi": Optional[List[str]], "value": Optional[str]}
    return [inspect.Parameter(o.dest, inspect.Parameter.KEYWORD_ONLY, annotation=types[o.kind],
                              default=typer.Option(defaults((o,))[o.dest], *o.flags, help=o.help))
            for o in specs]


def with_params(fn: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[..., Any]:
    """Give `fn(**kw)` the signature typer reads its arguments and options from."""
    import inspect
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in params}
    return fn

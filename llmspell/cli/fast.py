"""The fast path for `llmspell [opts] run SPELL …` and `llmspell SPELL …`.

Parses only the options in `options.GLOBAL_OPTS` and `options.RUN_OPTS`;
anything else (help, unknown options) returns None and the full typer CLI
handles it. Global flags (--debug, --json) are taken anywhere, --config only
before `run`, run's options only after it; a value follows its flag or, for a
long flag, an `=`.
"""

from __future__ import annotations

from typing import Any

from .options import GLOBAL_OPTS, RUN_OPTS, Opt, defaults
from .output import OPTS


def _lookup(specs: tuple[Opt, ...]) -> dict[str, Opt]:
    return {f: o for o in specs for f in o.flags}


_GLOBAL = _lookup(GLOBAL_OPTS)
_RUN = _lookup(RUN_OPTS)


def _spec(flag: str, seen_run: bool) -> Opt | None:
    """The option `flag` names where it stands: global flags anywhere, the other
    global options before `run`, run's options after it."""
    o = _GLOBAL.get(flag)
    if o is not None:
        return o if o.kind == "flag" or not seen_run else None
    return _RUN.get(flag) if seen_run else None


def parse(argv: list[str]) -> dict[str, Any] | None:
    i, n = 0, len(argv)
    opts: dict[str, Any] = defaults(GLOBAL_OPTS) | defaults(RUN_OPTS)
    seen_run = False
    spell = None
    args: list[str] = []
    while i < n:
        a = argv[i]
        if a == "--":
            if spell is None:
                return None
            args.extend(argv[i + 1:])
            break
        name, eq, value = a.partition("=")
        o = _spec(name, seen_run) if a.startswith("-") else None
        if o is not None:
            if o.kind == "flag":
                if eq:
                    return None
                opts[o.dest] = True
            else:
                if not eq:
                    if i + 1 == n:
                        return None
                    i += 1
                    value = argv[i]
                elif not name.startswith("--"):
                    return None          # -p=x: left to typer
                opts[o.dest] = (opts[o.dest] or []) + [value] if o.kind == "multi" else value
        elif a.startswith("-"):
            return None
        elif not seen_run:
            if a != "run":
                return None
            seen_run = True
        elif spell is None:
            spell = a
        else:
            args.append(a)
        i += 1
    if spell is None:
        return None
    opts["spell"], opts["args"] = spell, args
    return opts


def run_command(spell: str, args: list[str], opts: dict[str, Any]) -> None:
    """`run` itself, with run's options by dest; the fast path and typer's `run` both end here."""
    from .common import parse_params
    from .running import run_spell
    run_spell(spell, parse_params(opts["param"]), args, opts["engine"], opts["resume"])


def set_globals(opts: dict[str, Any]) -> None:
    """The global options, by dest, into OPTS (from here or from typer's callback)."""
    for o in GLOBAL_OPTS:
        setattr(OPTS, o.dest, opts[o.dest])


def try_run(argv: list[str]) -> bool:
    o = parse(argv)
    if o is None:
        return False
    set_globals(o)
    run_command(o["spell"], o["args"], o)
    return True

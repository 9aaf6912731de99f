"""The fast path for `llmspell [opts] run SPELL …` and `llmspell SPELL …`.

Parses only the options `run` takes; anything else (help, unknown options)
returns None and the full typer CLI handles it.
"""

from __future__ import annotations

from typing import Any

from .output import OPTS

_GLOBAL_FLAGS = {"--debug": "debug", "--json": "json"}


def parse(argv: list[str]) -> dict[str, Any] | None:
    i, n = 0, len(argv)
    opts: dict[str, Any] = {"config": None, "debug": False, "json": False, "params": [], "engine": None,
                            "resume": None}
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
        if a in _GLOBAL_FLAGS:
            opts[_GLOBAL_FLAGS[a]] = True
        elif a in ("--config", "-c") and not seen_run and i + 1 < n:
            opts["config"] = argv[i + 1]
            i += 1
        elif a.startswith("--config=") and not seen_run:
            opts["config"] = a.split("=", 1)[1]
        elif seen_run and a in ("--param", "-p") and i + 1 < n:
            opts["params"].append(argv[i + 1])
            i += 1
        elif seen_run and a.startswith("--param="):
            opts["params"].append(a.split("=", 1)[1])
        elif seen_run and a in ("--engine", "-e") and i + 1 < n:
            opts["engine"] = argv[i + 1]
            i += 1
        elif seen_run and a.startswith("--engine="):
            opts["engine"] = a.split("=", 1)[1]
        elif seen_run and a == "--resume" and i + 1 < n:
            opts["resume"] = argv[i + 1]
            i += 1
        elif seen_run and a.startswith("--resume="):
            opts["resume"] = a.split("=", 1)[1]
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


def try_run(argv: list[str]) -> bool:
    o = parse(argv)
    if o is None:
        return False
    OPTS.config, OPTS.debug, OPTS.json = o["config"], o["debug"], o["json"]
    from .common import parse_params
    from .running import run_spell
    run_spell(o["spell"], parse_params(o["params"]), o["args"], o["engine"], o["resume"])
    return True

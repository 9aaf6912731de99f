"""`run`, `exec` and `repl`."""

from __future__ import annotations

import asyncio
import os
import sys
from inspect import Parameter
from typing import Any, List, Optional

import typer

from ..errors import Code, LLMSpellError
from .common import make_runtime, parse_params
from .fast import run_command
from .options import RUN_OPTS, typer_params, with_params
from .output import show_value
from .running import exec_code


def register(app: typer.Typer) -> None:
    def run(spell: str, args: Optional[List[str]], **opts: Any) -> None:
        """Run a spell."""
        run_command(spell, list(args or []), opts)

    app.command()(with_params(run, [
        Parameter("spell", Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
                  default=typer.Argument(..., help="The spell file (.lua, .js, .mjs).")),
        Parameter("args", Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[List[str]],
                  default=typer.Argument(None, help="Arguments after -- become `args`.")),
        *typer_params(RUN_OPTS)]))

    @app.command("exec")
    def exec_(
        code: str = typer.Argument(..., help="Inline code; its return value is printed."),
        param: Optional[List[str]] = typer.Option(None, "--param", "-p"),
        engine: str = typer.Option("lua", "--engine", "-e"),
        args: Optional[List[str]] = typer.Argument(None),
    ) -> None:
        """Run inline code."""
        value = exec_code(code, parse_params(param), list(args or []), engine)
        if value is not None:
            show_value(value)

    @app.command()
    def repl(engine: str = typer.Option("lua", "--engine", "-e")) -> None:
        """Interactive console with history (Ctrl-D to leave)."""
        rt = make_runtime()
        asyncio.run(_repl(rt, engine))


async def _repl(rt: Any, engine: str) -> None:
    from ..runtime import Session
    try:
        import readline
        hist = os.path.expanduser("~/.llmspell_history")
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
        readline.set_history_length(1000)
    except ImportError:  # pragma: no cover - readline is in every CPython on Linux
        readline, hist = None, ""
    session = Session(rt, engine)
    interactive = sys.stdin.isatty()
    if interactive:
        from ..version import __version__
        print(f"llmspell {__version__} {engine} console — Ctrl-D to leave")
    buf = ""
    try:
        while True:
            try:
                line = input(("... " if buf else "> ") if interactive else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                buf = ""
                print()
                continue
            buf = f"{buf}\n{line}" if buf else line
            if not buf.strip():
                buf = ""
                continue
            try:
                value = await session.eval(buf)
            except LLMSpellError as e:
                if e.code == Code.SCRIPT_SYNTAX_ERROR and ("<eof>" in e.message or "unexpected end" in e.message
                                       or "expression: ''" in e.message or "expecting '}'" in e.message):
                    continue   # incomplete statement: read more lines
                print(f"error: {e.located()}", file=sys.stderr)
                buf = ""
                continue
            buf = ""
            if value is not None:
                show_value(value)
    finally:
        if readline is not None and hist:
            try:
                readline.write_history_file(hist)
            except OSError:
                pass
        await session.close()
        await rt.aclose()

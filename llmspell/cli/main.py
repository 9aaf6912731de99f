"""`llmspell` entry point: global options, bare `llmspell SPELL`, error → exit code."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..errors import EXIT_INTERRUPTED, EXIT_USAGE, LLMSpellError
from ..version import __version__
from .options import GLOBAL_OPTS
from .output import OPTS, fail

COMMANDS = {"run", "exec", "repl", "tools", "config", "state", "runs", "serve", "jobs"}
_VALUE_FLAGS = {f for o in GLOBAL_OPTS if o.kind != "flag" for f in o.flags}   # those that take the next word


def entry() -> None:
    argv = _rewrite(sys.argv[1:])
    try:
        from .fast import try_run
        if try_run(argv):
            return
        _typer_main(argv)
    except LLMSpellError as e:
        sys.exit(fail(e))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:      # (typer returns its Exit, not raises it: standalone_mode=False)
        if type(e).__name__ == "Abort":     # click's Ctrl-C inside a command
            sys.exit(EXIT_INTERRUPTED)
        if hasattr(e, "show") and hasattr(e, "exit_code"):   # click's usage errors
            e.show()
            sys.exit(EXIT_USAGE)
        if OPTS.debug:
            raise
        sys.exit(fail(e))


def _rewrite(argv: list[str]) -> list[str]:
    """`llmspell x.lua …` (shebang scripts) means `llmspell run x.lua …`."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUE_FLAGS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        if a not in COMMANDS and (os.path.exists(a) or a.endswith((".lua", ".js", ".mjs"))):
            return argv[:i] + ["run"] + argv[i:]
        break
    return argv


def _typer_main(argv: list[str]) -> None:
    app = _build_app()
    app(args=argv, prog_name="llmspell", standalone_mode=False)


def _build_app() -> Any:
    from inspect import Parameter

    import typer

    from .fast import set_globals
    from .options import typer_params, with_params
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      help="Run Lua and JavaScript spells that orchestrate LLM agents, tools and workflows.")

    def _version(value: bool) -> None:
        if value:
            typer.echo(f"llmspell {__version__}")
            raise typer.Exit()

    def main(**opts: Any) -> None:
        set_globals(opts)

    app.callback()(
        with_params(
            main,
            [
                *typer_params(GLOBAL_OPTS),
                Parameter(
                    "version",
                    Parameter.KEYWORD_ONLY,
                    annotation=bool,
                    default=typer.Option(
                        False, "--version", callback=_version, is_eager=True, help="Show the version."
                    ),
                ),
            ],
        )
    )

    from . import config_cmd, run_cmd, runs_cmd, serve_cmd, state_cmd, tools_cmd
    run_cmd.register(app)
    serve_cmd.register(app)
    app.add_typer(serve_cmd.jobs_app, name="jobs", help="Jobs of the running daemon.")
    app.add_typer(tools_cmd.app, name="tools", help="The tool catalogue from the shell.")
    app.add_typer(config_cmd.app, name="config", help="Show, validate or create configuration.")
    app.add_typer(state_cmd.app, name="state", help="The persistent store from the shell.")
    app.add_typer(runs_cmd.app, name="runs", help="Workflow runs: steps, status, timings, errors.")
    return app

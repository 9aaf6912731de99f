"""`llmspell config show|validate|init`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..config import STARTER, load_config
from ..errors import UsageError
from .output import OPTS, emit_json

app = typer.Typer(no_args_is_help=True)


@app.command()
def show(key: Optional[str] = typer.Argument(None, help="A dotted key, e.g. security.allowed_paths")) -> None:
    """The merged configuration, secrets masked."""
    cfg = load_config(OPTS.config)
    value = cfg.get(key)
    if OPTS.json or not isinstance(value, dict):
        emit_json(value) if OPTS.json else typer.echo(json.dumps(value))
        return
    from .output import console
    c = console()
    c.print(f"# sources: {', '.join(cfg.sources)}")
    c.print_json(json.dumps(value))


@app.command()
def validate(file: Optional[str] = typer.Argument(None, help="Validate this file (default: the merged config).")) -> None:
    """Check the configuration; exit 2 naming each bad key when invalid."""
    cfg = load_config(file or OPTS.config)
    if OPTS.json:
        emit_json({"valid": True, "sources": cfg.sources})
    else:
        typer.echo(f"configuration is valid ({', '.join(cfg.sources)})")


@app.command()
def init(path: str = typer.Argument("llmspell.toml"), force: bool = typer.Option(False, "--force")) -> None:
    """Write a starter llmspell.toml."""
    p = Path(path)
    if p.exists() and not force:
        raise UsageError(f"{p} already exists (use --force to overwrite)")
    p.write_text(STARTER)
    typer.echo(f"wrote {p}")

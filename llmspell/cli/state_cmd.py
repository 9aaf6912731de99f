"""`llmspell state get|set|list|delete|export|import`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import LLMSpellError, UsageError
from .common import make_runtime
from .output import OPTS, emit_json, show_value

app = typer.Typer(no_args_is_help=True)
NS = typer.Option("", "--namespace", "-n", help="Storage namespace (default: the main one).")


def _kv(ns: str) -> Any:
    rt = make_runtime()
    return rt, rt.kv(ns)


@app.command()
def get(key: str, namespace: str = NS) -> None:
    """Print a value (JSON). Exit 1 when the key is absent."""
    rt, kv = _kv(namespace)
    try:
        if not kv.exists(key):
            raise LLMSpellError(6002, f"no value stored at {key!r}", type_="NotFound")
        v = kv.get(key)
        emit_json(v) if OPTS.json else show_value(v)
    finally:
        rt.close()


@app.command("set")
def set_(key: str, value: str = typer.Argument(..., help="JSON, or taken as a string"),
         namespace: str = NS) -> None:
    """Store a value (parsed as JSON when it parses)."""
    try:
        v = json.loads(value)
    except ValueError:
        v = value
    rt, kv = _kv(namespace)
    try:
        kv.set(key, v)
    finally:
        rt.close()


@app.command("list")
def list_(prefix: str = typer.Argument(""), namespace: str = NS) -> None:
    """Keys with a prefix, sorted."""
    rt, kv = _kv(namespace)
    try:
        keys = kv.list(prefix)
        emit_json(keys) if OPTS.json else [typer.echo(k) for k in keys]
    finally:
        rt.close()


@app.command()
def delete(key: str, namespace: str = NS) -> None:
    """Remove a key. Exit 1 when it was absent."""
    rt, kv = _kv(namespace)
    try:
        if not kv.delete(key):
            raise LLMSpellError(6002, f"no value stored at {key!r}", type_="NotFound")
    finally:
        rt.close()


@app.command("export")
def export(output: Optional[str] = typer.Option(None, "--output", "-o", help="File (default: stdout).")) -> None:
    """Everything as JSON: { namespace: { key: value } } ('' is the main namespace)."""
    rt, kv = _kv("")
    try:
        data = {"": dict(kv.items())}
        for ns in kv.namespaces():
            data[ns] = dict(rt.kv(ns).items())
    finally:
        rt.close()
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output:
        Path(output).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


@app.command("import")
def import_(file: str = typer.Argument(..., help="A file from `state export`, or - for stdin")) -> None:
    """Load an export; each namespace is written atomically."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{file}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"{file}: expected {{namespace: {{key: value}}}} as written by `state export`")
    rt, _ = _kv("")
    try:
        n = 0
        for ns, values in data.items():
            rt.kv(ns).set_batch(values)
            n += len(values)
    finally:
        rt.close()
    typer.echo(f"imported {n} keys")

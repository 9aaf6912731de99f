"""`llmspell state get|set|list|delete|export|import|repair`."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from ..errors import StorageError, UsageError
from .common import open_runtime
from .output import OPTS, emit_json, show_value

app = typer.Typer(no_args_is_help=True)
NS = typer.Option("", "--namespace", "-n", help="Storage namespace (default: the main one).")


@contextmanager
def _kv(ns: str) -> Iterator[Any]:
    """The store of namespace `ns`; the runtime is closed when the block ends."""
    with open_runtime() as rt:
        yield rt.kv(ns)


@app.command()
def get(key: str, namespace: str = NS) -> None:
    """Print a value (JSON). Exit 1 when the key is absent."""
    with _kv(namespace) as kv:
        if not kv.exists(key):
            raise StorageError(f"no value stored at {key!r}")
        v = kv.get(key)
        emit_json(v) if OPTS.json else show_value(v)


@app.command("set")
def set_(key: str, value: str = typer.Argument(..., help="JSON, or taken as a string"),
         namespace: str = NS) -> None:
    """Store a value (parsed as JSON when it parses)."""
    try:
        v = json.loads(value)
    except ValueError:
        v = value
    with _kv(namespace) as kv:
        kv.set(key, v)


@app.command("list")
def list_(prefix: str = typer.Argument(""), namespace: str = NS) -> None:
    """Keys with a prefix, sorted."""
    with _kv(namespace) as kv:
        keys = kv.list(prefix)
    if OPTS.json:
        emit_json(keys)
    else:
        for k in keys:
            typer.echo(k)


@app.command()
def delete(key: str, namespace: str = NS) -> None:
    """Remove a key. Exit 1 when it was absent."""
    with _kv(namespace) as kv:
        if not kv.delete(key):
            raise StorageError(f"no value stored at {key!r}")


@app.command("export")
def export(output: Optional[str] = typer.Option(None, "--output", "-o", help="File (default: stdout).")) -> None:
    """Everything as JSON: { namespace: { key: value } } ('' is the main namespace)."""
    with open_runtime() as rt:
        kv = rt.kv("")
        data = {"": dict(kv.items())}
        for ns in kv.namespaces():
            data[ns] = dict(rt.kv(ns).items())
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output:
        Path(output).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


@app.command("import")
def import_(file: str = typer.Argument(..., help="A file from `state export`, or - for stdin")) -> None:
    """Load an export; each namespace is written atomically."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not a `state export` file (not UTF-8 text)") from None
    except OSError as e:
        raise UsageError(f"cannot read {file}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{file}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"{file}: expected {{namespace: {{key: value}}}} as written by `state export`")
    n = 0
    with open_runtime() as rt:
        for ns, values in data.items():
            rt.kv(ns).set_batch(values)
            n += len(values)
    typer.echo(f"imported {n} keys")


@app.command()
def repair() -> None:
    """Rebuild a damaged LevelDB store (LevelDB's repair), then read every key to check it."""
    from ..config import load_config
    from ..storage.leveldb import repair_leveldb
    cfg = load_config(OPTS.config)
    if cfg.settings.storage.backend != "leveldb":
        raise UsageError(f"storage.backend is {cfg.settings.storage.backend!r}: only LevelDB storage is repaired")
    path = cfg.data_dir
    report = repair_leveldb(path, cfg.settings.storage.lock_timeout)
    if OPTS.json:
        emit_json({"path": str(path), **report})
        return
    spaces = report["namespaces"]
    typer.echo(f"repaired {path}: {report['keys']} keys readable ({report['main']} in the main namespace, "
               f"{sum(spaces.values())} in {len(spaces)} other namespaces, {report['events']} events)")
    if report["lost"]:
        typer.echo(f"set aside in {path / 'lost'} (old manifests, logs it converted, files it could not read): "
                   + ", ".join(report["lost"]))

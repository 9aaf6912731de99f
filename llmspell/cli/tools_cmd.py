"""`llmspell tools list|info|run`."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import typer

from ..errors import UsageError
from .common import make_runtime
from .output import OPTS, console, emit_json, show_value

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(category: Optional[str] = typer.Option(None, "--category", help="Only this category.")) -> None:
    """Every tool with its category and description."""
    rt = make_runtime()
    tools = rt.tools.list(category)
    if OPTS.json:
        emit_json(tools)
        return
    from rich.table import Table
    t = Table("name", "category", "description", box=None, pad_edge=False)
    for x in tools:
        t.add_row(x["name"], x["category"], x["description"])
    console().print(t)


@app.command()
def info(name: str) -> None:
    """A tool's description and input schema."""
    rt = make_runtime()
    tool = rt.tools.get(name)
    d = tool.info() | {"input_schema": tool.input_schema}
    if OPTS.json:
        emit_json(d)
        return
    c = console()
    c.print(f"[bold]{tool.name}[/bold] ({tool.category})\n{tool.description}\n")
    props = tool.input_schema.get("properties") or {}
    req = set(tool.input_schema.get("required") or [])
    from rich.table import Table
    t = Table("parameter", "type", "required", "default", "description", box=None, pad_edge=False)
    for k, v in props.items():
        typ = v.get("type") or ("one of " + ", ".join(map(str, v["enum"])) if "enum" in v else "any")
        t.add_row(k, str(typ), "yes" if k in req else "", json.dumps(v["default"]) if "default" in v else "",
                  v.get("description", ""))
    c.print(t)


@app.command()
def run(name: str, input: str = typer.Option("{}", "--input", "-i", help="The input as JSON.")) -> None:
    """Run one tool with a JSON input; prints its result."""
    try:
        data = json.loads(input)
    except ValueError as e:
        raise UsageError(f"--input is not valid JSON: {e}") from None
    rt = make_runtime()

    async def go() -> Any:
        run = rt.open_code("", name="tools run")
        try:
            return await rt.tools.execute(name, data, run, caller="cli")
        finally:
            run.finish()
            await rt.aclose()
    res = asyncio.run(go())
    if OPTS.json:
        emit_json(res)
    else:
        show_value(res["result"])

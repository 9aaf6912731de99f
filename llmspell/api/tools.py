"""`Tools` and tool objects."""

from __future__ import annotations

from typing import Any

from ..boundary import ObjectRef, ScriptFunction
from ..core.context import RunContext
from ..core.tools import Tool, ToolContext, check_schema
from ..errors import Code, LLMSpellError
from .registry import Options, api, method


def tool_ref(tool: Tool) -> ObjectRef:
    return ObjectRef("Tool", tool, {"name": tool.name, "category": tool.category,
                                    "description": tool.description})


@api("Tools.get")
def get(run: RunContext, name: str) -> ObjectRef:
    """The tool called `name`; error 2001 when there is none."""
    return tool_ref(run.tools.get(name))


@api("Tools.list")
def list_(run: RunContext, category: str | None = None) -> list[dict[str, Any]]:
    """Every tool as { name, category, description }, optionally one category."""
    return run.tools.list(category)


@api("Tools.search")
def search(run: RunContext, query: str) -> list[dict[str, Any]]:
    """Tools whose name or description contains `query`."""
    return run.tools.search(query)


@api("Tools.create")
def create(run: RunContext, name: str, spec: Options) -> ObjectRef:
    """A tool implemented by the spell; `Tools.register` makes it visible to everyone."""
    execute = spec.get("execute")
    if not isinstance(execute, ScriptFunction):
        raise LLMSpellError(Code.TOOL_INITIALIZATION_FAILED, f"Tools.create({name!r}): 'execute' must be a function")
    schema = spec.get("input_schema") or spec.get("inputSchema") or spec.get("schema") or {"type": "object"}
    schema = check_schema(schema, name)

    async def impl(inp: dict[str, Any], ctx: ToolContext) -> Any:
        return await execute(inp)
    tool = Tool(name, str(spec.get("description") or name), schema, impl,
                category=str(spec.get("category") or "custom"), owner=run, source=run.display)
    return tool_ref(tool)


@api("Tools.register")
def register(run: RunContext, tool: Tool) -> ObjectRef:
    """Make a tool (from Tools.create) callable by name, by agents and workflows."""
    run.tools.register(tool, owner=tool.owner if tool.owner is not None else run)
    return tool_ref(tool)


@api("Tools.execute")
async def execute_by_name(run: RunContext, name: str, input: dict[str, Any] | None = None) -> Any:
    """Shortcut for Tools.get(name):execute(input)."""
    return await run.tools.execute(name, input or {}, run)


@method("Tool", "execute")
async def execute(run: RunContext, tool: Tool, input: dict[str, Any] | None = None) -> Any:
    """Run the tool: input validated against its schema, hooks and events apply."""
    return await run.tools.execute(tool, input if input is not None else {}, run)


@method("Tool", "schema")
def schema(run: RunContext, tool: Tool) -> dict[str, Any]:
    """The JSON Schema of the tool's input."""
    return tool.input_schema

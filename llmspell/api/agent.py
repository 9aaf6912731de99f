"""`Agent` and agent objects."""

from __future__ import annotations

import json
from typing import Any

from ..boundary import ObjectRef, ScriptFunction
from ..core.agents import Agent, AgentConfig
from ..core.context import RunContext
from ..core.tools import Tool
from ..errors import Code, LLMSpellError
from ..paths import builtins_dir
from .registry import Options, api, method
from .tools import tool_ref


def agent_ref(a: Agent) -> ObjectRef:
    return ObjectRef("Agent", a, {"name": a.name, "model": a.cfg.model})


def _tools(run: RunContext, items: Any, where: str) -> list[Tool]:
    if items in (None, {}):
        return []
    if not isinstance(items, list):
        raise LLMSpellError(
            Code.AGENT_INVALID_CONFIGURATION, f"{where}: 'tools' must be an array of names, tools or agents"
        )
    out: list[Tool] = []
    for it in items:
        if isinstance(it, str):
            try:
                out.append(run.tools.get(it))
            except LLMSpellError:
                raise LLMSpellError(Code.AGENT_TOOL_NOT_FOUND, f"{where}: unknown tool {it!r}",
                                    suggestions=["`llmspell tools list` shows every tool"]) from None
        elif isinstance(it, Tool):
            out.append(it)
        elif isinstance(it, Agent):
            out.append(it.as_tool())
        else:
            raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, f"{where}: cannot use {it!r} as a tool")
    return out


def create_agent(run: RunContext, config: dict[str, Any]) -> Agent:
    cfg = AgentConfig.parse(config, run.config.settings.providers.default, lambda: run.next_name("agent"))
    agent = Agent(cfg, _tools(run, config.get("tools"), f"Agent.new({cfg.name!r})"), run, owner=run)
    run.agents[cfg.name] = agent
    return agent


@api("Agent.new")
def new(run: RunContext, config: Options) -> ObjectRef:
    """An agent: { name, model = 'provider/model', system_prompt, tools, memory, max_iterations, … }."""
    return agent_ref(create_agent(run, config))


@api("Agent.get")
def get(run: RunContext, name: str) -> ObjectRef:
    """The agent called `name`; error 1001 when there is none."""
    a = run.agents.get(name)
    if a is None:
        raise LLMSpellError(Code.AGENT_NOT_FOUND, f"unknown agent {name!r}",
                            suggestions=["known agents: " + (", ".join(sorted(run.agents)) or "none")])
    return agent_ref(a)


@api("Agent.list")
def list_(run: RunContext) -> list[dict[str, Any]]:
    """Every agent as { name, model, description, tools }."""
    return [a.info() for a in run.agents.values()]


def templates() -> dict[str, Any]:
    return json.loads((builtins_dir() / "agents" / "templates.json").read_text())


@api("Agent.template")
def template(run: RunContext, name: str, overrides: Options | None = None) -> ObjectRef:
    """An agent from a built-in template (research_specialist, code_specialist, …) with overrides."""
    t = templates().get(name)
    if t is None:
        raise LLMSpellError(Code.AGENT_NOT_FOUND, f"unknown agent template {name!r}",
                            suggestions=["templates: " + ", ".join(sorted(templates()))])
    cfg = {"name": name, **t, **(overrides or {})}
    return agent_ref(create_agent(run, cfg))


@api("Agent.execute")
async def execute_by_name(run: RunContext, name: str, input: Any = None) -> dict[str, Any]:
    """Shortcut for Agent.get(name):execute(input)."""
    a = run.agents.get(name)
    if a is None:
        raise LLMSpellError(Code.AGENT_NOT_FOUND, f"unknown agent {name!r}")
    return await a.execute(run, input)


@method("Agent", "chat")
async def chat(run: RunContext, agent: Agent, text: str) -> str:
    """Send a message, get the reply text; the conversation is kept."""
    return (await agent.execute(run, {"input": text}))["output"]


@method("Agent", "execute")
async def execute(run: RunContext, agent: Agent, input: Any = None) -> dict[str, Any]:
    """{ input =, context = } → { output, tool_calls, usage, agent }."""
    return await agent.execute(run, input)


@method("Agent", "structured")
async def structured(run: RunContext, agent: Agent, prompt: str, schema: dict[str, Any]) -> Any:
    """Ask for JSON that matches `schema`; returns the validated table (one repair attempt)."""
    import jsonschema
    instruction = (f"{prompt}\n\nRespond with only a JSON value matching this JSON Schema, no prose:\n"
                   f"{json.dumps(schema, sort_keys=True)}")
    last_err = ""
    for attempt in range(2):
        text = instruction if not attempt else (
            f"{instruction}\n\nYour previous answer was not valid: {last_err}. Reply with corrected JSON only.")
        res = await agent.execute(run, {"input": text}, keep_history=False)
        raw = (res["output"] or "").strip()
        if raw.startswith("```"):
            raw = raw.strip("`").split("\n", 1)[-1].rsplit("```", 1)[0]
        try:
            data = json.loads(raw)
            jsonschema.validate(data, schema)
            return data
        except json.JSONDecodeError as e:
            last_err = f"not JSON ({e.msg})"
        except jsonschema.ValidationError as e:
            last_err = e.message
    raise LLMSpellError(
        Code.AGENT_EXECUTION_FAILED,
        f"agent '{agent.name}': answer does not match the schema: {last_err}",
        suggestions=["simplify the schema", "add an example to the prompt"],
    )


@method("Agent", "stream")
async def stream(run: RunContext, agent: Agent, text: str, callback: ScriptFunction | None = None) -> str:
    """Call callback(chunk) as the reply arrives; returns the whole reply."""
    async def on_chunk(piece: str) -> None:
        if callback is not None:
            await callback(piece)
    return (await agent.execute(run, {"input": text}, on_chunk=on_chunk))["output"]


@method("Agent", "history")
def history(run: RunContext, agent: Agent) -> list[dict[str, Any]]:
    """The conversation so far as { role, content } messages."""
    return [dict(m) for m in agent.history]


@method("Agent", "clear_history")
def clear_history(run: RunContext, agent: Agent) -> None:
    agent.clear_history(run)


@method("Agent", "remember")
def remember(run: RunContext, agent: Agent, key: str, value: Any) -> None:
    """A fact the agent keeps in its system prompt (persisted with memory.persist)."""
    agent.remember(run, key, value)


@method("Agent", "recall")
def recall(run: RunContext, agent: Agent, key: str) -> Any:
    return agent.facts.get(key)


@method("Agent", "forget")
def forget(run: RunContext, agent: Agent, key: str) -> None:
    agent.forget(run, key)


@method("Agent", "usage")
def usage(run: RunContext, agent: Agent) -> dict[str, Any]:
    """Calls, tokens and cost of this agent so far."""
    return agent.usage.to_dict()


@method("Agent", "as_tool")
def as_tool(run: RunContext, agent: Agent, options: Options | None = None) -> ObjectRef:
    """This agent as a tool other agents (or workflows) can call."""
    o = options or {}
    return tool_ref(agent.as_tool(o.get("name"), o.get("description")))

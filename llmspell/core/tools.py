"""Tools: the registry and the single execution path every caller goes through.

Spells, agents, workflows and `llmspell tools run` all call `ToolRegistry.execute`,
so validation, hooks, events and the sandbox apply the same way everywhere.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..config import redact
from ..errors import Code, LLMSpellError
from .events import EventBus
from .hooks import HookRegistry

if TYPE_CHECKING:
    import httpx

    from ..config import Config
    from ..config_models import SecurityConfig


class ToolCaller(Protocol):
    """What running a tool needs of the run that calls it (a SpellRun has all of it)."""
    id: str
    hooks: HookRegistry
    events: EventBus
    tool_context: "ToolContext"
    deadline: float             # time.monotonic() when the run's limit expires: long tools stop there

    def timeout_message(self) -> str: ...


class ToolContext:
    """What a tool implementation may use: the configuration and its security
    policy, the working folder, a shared HTTP client, and the calling run
    (agent tools run their agent in it)."""

    def __init__(self, config: "Config", cwd: Path, http: Callable[[], "httpx.AsyncClient"],
                 run: ToolCaller) -> None:
        self.config = config
        self.cwd = cwd
        self.run = run
        self._http = http

    @property
    def security(self) -> "SecurityConfig":
        return self.config.settings.security

    @property
    def http(self) -> "httpx.AsyncClient":
        return self._http()


ToolImpl = Callable[[dict[str, Any], ToolContext], Any]


SCHEMA_REGEX_TIMEOUT = 1.0     # seconds one `pattern` may take on one value


def _search(pattern: str, text: str) -> bool:
    import regex
    return regex.search(pattern, text, timeout=SCHEMA_REGEX_TIMEOUT) is not None


def _kw_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    import jsonschema
    if not validator.is_type(instance, "string"):
        return
    try:
        if not _search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")
    except TimeoutError:
        yield jsonschema.ValidationError(f"the pattern {pattern!r} took longer than {SCHEMA_REGEX_TIMEOUT:g}s on "
                                         "this value")


def _kw_pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Any:
    import jsonschema
    if not validator.is_type(instance, "object"):
        return
    for pattern, sub in patterns.items():
        for k, v in instance.items():
            try:
                hit = _search(pattern, k)
            except TimeoutError:
                yield jsonschema.ValidationError(f"the pattern {pattern!r} took longer than "
                                                 f"{SCHEMA_REGEX_TIMEOUT:g}s on the key {k!r}")
                continue
            if hit:
                yield from validator.descend(v, sub, path=k, schema_path=pattern)


def _bounded(schema: dict[str, Any]) -> Callable[[Any], None]:
    """jsonschema with `pattern`/`patternProperties` on a timeout-capable regex
    engine: a spell's (or an agent's) input cannot hang on a catastrophic pattern."""
    import jsonschema
    base = jsonschema.validators.validator_for(schema)
    cls = jsonschema.validators.extend(base, {"pattern": _kw_pattern, "patternProperties": _kw_pattern_properties})
    checker = cls(schema)

    def check(value: Any) -> None:
        err = jsonschema.exceptions.best_match(checker.iter_errors(value))
        if err is not None:
            raise err
    return check


def _validator(schema: dict[str, Any]) -> Callable[[Any], None]:
    """A fast validity check (fastjsonschema) that falls back to jsonschema; schemas
    with regular expressions go to the bounded validator instead."""
    import json
    if '"pattern' in json.dumps(schema, default=str):
        return _bounded(schema)
    try:
        import fastjsonschema
        fast = fastjsonschema.compile(schema)
    except Exception:
        fast = None

    def check(value: Any) -> None:
        if fast is not None:
            try:
                fast(value)
                return
            except Exception:
                pass
        import jsonschema
        cls = jsonschema.validators.validator_for(schema)
        err = jsonschema.exceptions.best_match(cls(schema).iter_errors(value))
        if err is not None:
            raise err
    return check


def check_schema(schema: Any, name: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise LLMSpellError(Code.TOOL_SCHEMA_INVALID, f"{name}: input_schema must be a table (a JSON Schema)")
    import jsonschema
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        raise LLMSpellError(Code.TOOL_SCHEMA_INVALID, f"{name}: invalid input_schema: {e.message}") from None
    return schema


def coerce_empty(value: Any, schema: dict[str, Any]) -> Any:
    """Scripts can't tell an empty array from an empty map; the schema can."""
    if not isinstance(schema, dict):
        return value
    t = schema.get("type")
    if value == {} and (t == "array" or (isinstance(t, list) and "array" in t and "object" not in t)):
        return []
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for k, sub in props.items():
                if k in value:
                    v = value[k]
                    if isinstance(v, (dict, list)):
                        value[k] = coerce_empty(v, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                value[i] = coerce_empty(v, items)
    return value


@dataclass(eq=False)
class Tool:
    """A named, schema-described capability. `impl(input, ctx)` may be async."""
    name: str
    description: str
    input_schema: dict[str, Any]
    impl: ToolImpl
    category: str = "custom"
    owner: object = None
    source: str = "builtin"
    _check: Callable[[Any], None] | None = field(default=None, repr=False)

    def validate(self, value: Any) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.name}: input must be a table of named parameters, "
                                f"got {type(value).__name__}", suggestions=self.suggestions())
        value = coerce_empty(value, self.input_schema)
        if self._check is None:
            self._check = _validator(self.input_schema)
        try:
            self._check(value)
        except Exception as e:
            msg = getattr(e, "message", str(e)).replace(" is a required property", " is required")
            path = ".".join(str(p) for p in getattr(e, "absolute_path", ()) or ())
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.name}: {path + ': ' if path else ''}{msg}",
                                suggestions=self.suggestions()) from None
        return value

    def suggestions(self) -> list[str]:
        props = self.input_schema.get("properties") or {}
        req = self.input_schema.get("required") or []
        if not props:
            return []
        parts = [f"{k}{'' if k in req else '?'}: {v.get('type', 'any') if isinstance(v, dict) else 'any'}"
                 for k, v in props.items()]
        return ["parameters: " + ", ".join(parts), f"see `llmspell tools info {self.name}`"]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "category": self.category, "description": self.description}

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None,
                      description: str | None = None, category: str = "python") -> "Tool":
        """A Python function becomes a tool; its signature becomes the schema."""
        from pydantic import TypeAdapter, create_model
        sig = inspect.signature(fn)
        fields: dict[str, Any] = {}
        for pname, p in sig.parameters.items():
            if pname in ("ctx", "context") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = p.annotation if p.annotation is not inspect.Parameter.empty else Any
            fields[pname] = (ann, ... if p.default is inspect.Parameter.empty else p.default)
        model = create_model(f"{fn.__name__}_input", **fields)  # type: ignore[call-overload]
        schema = TypeAdapter(model).json_schema()
        schema.pop("title", None)
        for prop in (schema.get("properties") or {}).values():
            prop.pop("title", None)
        wants_ctx = "ctx" in sig.parameters or "context" in sig.parameters
        ctx_name = "ctx" if "ctx" in sig.parameters else "context"
        plain = not fields      # nothing to coerce: skip pydantic on every call

        def prepare(inp: dict[str, Any], ctx: Any) -> dict[str, Any]:
            args = {} if plain else model.model_validate(inp).model_dump()
            if wants_ctx:
                args[ctx_name] = ctx
            return args

        if inspect.iscoroutinefunction(fn):
            async def impl(inp: dict[str, Any], ctx: Any) -> Any:
                return await fn(**prepare(inp, ctx))
        else:
            def impl(inp: dict[str, Any], ctx: Any) -> Any:      # a sync tool stays sync (no await needed)
                return fn(**prepare(inp, ctx))
        doc = inspect.getdoc(fn) or ""
        return cls(name or fn.__name__, description or doc.split("\n\n")[0] or fn.__name__,
                   schema, impl, category=category, source="python")


class ToolRegistry:
    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}

    def register(self, tool: Tool | Callable[..., Any], *, name: str | None = None,
                 description: str | None = None, owner: object = None, replace: bool = True) -> Tool:
        """Register a Tool, or a plain (async) Python function as a tool."""
        if not isinstance(tool, Tool):
            tool = Tool.from_function(tool, name=name, description=description)
        if owner is not None:
            tool.owner = owner
        if not replace and tool.name in self.tools:
            raise LLMSpellError(Code.TOOL_CONFIGURATION_INVALID, f"a tool named {tool.name!r} is already registered")
        self.tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> bool:
        return self.tools.pop(name, None) is not None

    def remove_owner(self, owner: object) -> None:
        for n in [n for n, t in self.tools.items() if t.owner is owner]:
            del self.tools[n]

    def get(self, name: str) -> Tool:
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            import difflib
            close = difflib.get_close_matches(str(name), list(self.tools), n=3)
            raise LLMSpellError(Code.TOOL_NOT_FOUND, f"unknown tool {name!r}",
                                suggestions=([f"did you mean {', '.join(close)}?"] if close else [])
                                + ["`llmspell tools list` shows every tool"])
        return tool

    def list(self, category: str | None = None) -> list[dict[str, Any]]:
        return [t.info() for t in sorted(self.tools.values(), key=lambda t: (t.category, t.name))
                if category is None or t.category == category]

    def search(self, query: str) -> list[dict[str, Any]]:
        q = query.lower()
        scored = []
        for t in self.tools.values():
            if q in t.name.lower():
                scored.append((0, t))
            elif q in t.description.lower() or q == t.category.lower():
                scored.append((1, t))
        return [t.info() for _, t in sorted(scored, key=lambda x: (x[0], x[1].name))]

    async def execute(self, tool: Tool | str, input: Any, run: ToolCaller,
                      caller: str = "spell") -> dict[str, Any]:
        """Run a tool the one way everyone does: hooks, validation, events, retries."""
        if not isinstance(tool, Tool):
            tool = self.get(tool)
        hooks, bus = run.hooks, run.events
        name = tool.name
        o = await hooks.fire("before_tool_execution", "tool", name, run.id, input=input, caller=caller)
        if o is not None:
            if o.replaced:
                return _as_result(o.output, name, 0.0)
            input = o.ctx["input"]
        input = tool.validate(input)
        bus.emit("tool.started", {"tool": name, "input": redact(input), "caller": caller}, name)
        attempts = 0
        t0 = time.perf_counter()
        while True:
            attempts += 1
            try:
                value = tool.impl(input, run.tool_context)
                if inspect.isawaitable(value):
                    value = await value
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                err = e if isinstance(e, LLMSpellError) else LLMSpellError(Code.TOOL_EXECUTION_FAILED, f"{name}: {e}")
                o = await hooks.fire("tool_error", "tool", name, run.id, input=input, error=err.to_dict(),
                                     attempt=attempts)
                if o is not None and o.retries(attempts):
                    continue
                if o is not None and o.replaced:
                    value = o.output
                    break
                bus.emit("tool.error", {"tool": name, "error": err.to_dict()}, name)
                raise err from (None if err is e else e)
        result = {"result": value, "metadata": {"tool": name,
                                                "duration_ms": round((time.perf_counter() - t0) * 1000, 3)}}
        o = await hooks.fire("after_tool_execution", "tool", name, run.id, input=input, output=result, caller=caller)
        if o is not None:
            result = _as_result(o.output, name, 0.0) if o.replaced else o.ctx["output"]
        bus.emit("tool.completed", {"tool": name, "duration_ms": result.get("metadata", {}).get("duration_ms")
                                    if isinstance(result, dict) and isinstance(result.get("metadata"), dict) else None},
                 name)
        return result


def _as_result(output: Any, name: str, ms: float) -> dict[str, Any]:
    if isinstance(output, dict) and "result" in output:
        return output
    return {"result": output, "metadata": {"tool": name, "duration_ms": ms, "replaced": True}}

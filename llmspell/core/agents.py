"""Agents: a model, a system prompt, tools and memory, driven by a tool-calling loop.

Every model call goes through `Agent._call_model` (hooks, events, budget, rate
limits, retries with backoff, circuit breaker, fallbacks, timeout); every tool
call goes through `ToolRegistry.execute`, the same path a spell's own call takes.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, cast

from ..errors import Code, LLMSpellError
from ..providers import resolve_provider
from ..providers.base import LLMRequest, LLMResponse, Provider, ProviderError, ToolCall, estimate_tokens
from .resilience import Usage, backoff_delay
from .tools import Tool, ToolContext

if TYPE_CHECKING:
    from .context import RunContext

_KNOWN = {"name", "model", "provider", "system_prompt", "temperature", "max_tokens", "tools", "memory",
          "max_iterations", "timeout", "retry", "fallbacks", "rate_limit", "budget", "responses", "session",
          "description", "base_url", "api_key", "mock_delay"}
_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def _num(cfg: dict[str, Any], key: str, kind: type, where: str, minimum: float | None = None) -> Any:
    v = cfg.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not float(v).is_integer()):
        raise LLMSpellError(
            Code.AGENT_INVALID_CONFIGURATION,
            f"{where}: '{key}' must be a {'whole ' if kind is int else ''}number, got {v!r}",
        )
    if minimum is not None and v < minimum:
        raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, f"{where}: '{key}' must be at least {minimum}, got {v!r}")
    return kind(v)


@dataclass
class AgentConfig:
    name: str
    model: str
    system_prompt: str | None = None
    description: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    max_iterations: int = 5
    timeout: float = 60.0
    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    fallbacks: list[str] = field(default_factory=list)
    max_messages: int = 100
    max_context_tokens: int | None = None
    persist: bool = False
    session: str | None = None
    rpm: float | None = None
    tpm: float | None = None
    max_cost: float | None = None
    max_budget_tokens: int | None = None
    responses: list[Any] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, cfg: dict[str, Any], default_model: str, default_name: Callable[[], str]) -> "AgentConfig":
        name = cfg.get("name") or default_name()
        where = f"Agent.new({name!r})"
        if not isinstance(name, str):
            raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, "Agent.new: 'name' must be a string")
        unknown = sorted(set(cfg) - _KNOWN)
        if unknown:
            raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, f"{where}: unknown option(s) {', '.join(unknown)}",
                                suggestions=["options: " + ", ".join(sorted(_KNOWN))])
        model = cfg.get("model") or default_model
        if cfg.get("provider"):
            model = f"{cfg['provider']}/{cfg.get('model') or 'default'}"
        if not isinstance(model, str) or "/" not in model:
            raise LLMSpellError(
                Code.AGENT_INVALID_CONFIGURATION,
                f"{where}: model must look like 'provider/model', got {model!r}",
                suggestions=["model = 'openai/gpt-4o-mini'", "model = 'mock/test'"],
            )
        mem = cfg.get("memory") or {}
        retry = cfg.get("retry") or {}
        rl = cfg.get("rate_limit") or {}
        budget = cfg.get("budget") or {}
        for key, v in (("memory", mem), ("retry", retry), ("rate_limit", rl), ("budget", budget)):
            if not isinstance(v, dict):
                raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, f"{where}: '{key}' must be a table")
        fallbacks = cfg.get("fallbacks") or []
        if isinstance(fallbacks, str):
            fallbacks = [fallbacks]
        c = cls(
            name=name, model=model, system_prompt=cfg.get("system_prompt"),
            description=str(cfg.get("description") or ""),
            temperature=_num(cfg, "temperature", float, where, 0),
            max_tokens=_num(cfg, "max_tokens", int, where, 1),
            max_iterations=_num(cfg, "max_iterations", int, where, 0) if cfg.get("max_iterations") is not None else 5,
            timeout=_num(cfg, "timeout", float, where, 0.001) or 60.0,
            attempts=_num(retry, "attempts", int, where + " retry", 1) or 3,
            backoff=_num(retry, "backoff", float, where + " retry", 0) if retry.get("backoff") is not None else 0.5,
            max_backoff=_num(retry, "max_backoff", float, where + " retry", 0) or 30.0,
            fallbacks=[str(f) for f in fallbacks],
            max_messages=_num(mem, "max_messages", int, where + " memory", 1) or 100,
            max_context_tokens=_num(mem, "max_tokens", int, where + " memory", 1),
            persist=bool(mem.get("persist", False)), session=cfg.get("session") or mem.get("session"),
            rpm=_num(rl, "rpm", float, where, 0) or _num(rl, "requests_per_minute", float, where, 0),
            tpm=_num(rl, "tpm", float, where, 0) or _num(rl, "tokens_per_minute", float, where, 0),
            max_cost=_num(budget, "max_cost", float, where + " budget", 0),
            max_budget_tokens=_num(budget, "max_tokens", int, where + " budget", 0),
            responses=cfg.get("responses"),
            overrides={k: cfg[k] for k in ("base_url", "api_key", "mock_delay") if cfg.get(k) is not None},
        )
        return c


class Agent:
    def __init__(self, cfg: AgentConfig, tools: list[Tool], run: "RunContext", owner: object = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.tools = {t.name: t for t in tools}
        self.config = run.config
        self.guards = run.guards
        self.owner = owner
        self.usage = Usage()
        self.history: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self._providers: dict[str, tuple[Provider, str, str]] = {}
        if cfg.persist:
            kv = run.kv("agents")
            self.history = kv.get(self._key("history"), []) or []
            self.facts = kv.get(self._key("facts"), {}) or {}

    # -- memory ---------------------------------------------------------------
    def _key(self, what: str) -> str:
        return f"{self.name}:{self.cfg.session or 'default'}:{what}"

    def _save(self, run: "RunContext") -> None:
        if self.cfg.persist:
            run.kv("agents").set_batch({self._key("history"): self.history, self._key("facts"): self.facts})

    def remember(self, run: "RunContext", key: str, value: Any) -> None:
        self.facts[key] = value
        self._save(run)

    def forget(self, run: "RunContext", key: str) -> None:
        self.facts.pop(key, None)
        self._save(run)

    def clear_history(self, run: "RunContext") -> None:
        self.history = []
        self._save(run)

    def _system(self) -> list[dict[str, Any]]:
        text = self.cfg.system_prompt or ""
        if self.facts:
            facts = "\n".join(f"- {k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in self.facts.items())
            text = (text + "\n\n" if text else "") + "Things to remember:\n" + facts
        return [{"role": "system", "content": text}] if text else []

    def _trim(self) -> None:
        """Keep the newest messages within max_messages and the token budget,
        never starting on a tool result whose call was dropped."""
        h = self.history
        if len(h) > self.cfg.max_messages:
            h = h[-self.cfg.max_messages:]
        if self.cfg.max_context_tokens:
            budget = self.cfg.max_context_tokens - estimate_tokens(self._system())
            while len(h) > 1 and sum(estimate_tokens(m) for m in h) > budget:
                h = h[1:]
        while h and (h[0].get("role") == "tool" or (h[0].get("role") == "assistant" and h[0].get("tool_calls"))):
            h = h[1:]
        self.history = h

    # -- tools ----------------------------------------------------------------
    def _tool_specs(self) -> list[dict[str, Any]] | None:
        if not self.tools:
            return None
        return [{"type": "function", "function": {"name": _TOOL_NAME.sub("_", t.name)[:64],
                                                  "description": t.description[:1024],
                                                  "parameters": t.input_schema}} for t in self.tools.values()]

    async def _run_tool(self, call: ToolCall, run: "RunContext") -> dict[str, Any]:
        tool = self.tools.get(call.name) or next(
            (t for t in self.tools.values() if _TOOL_NAME.sub("_", t.name)[:64] == call.name), None)
        record: dict[str, Any] = {"name": call.name, "input": call.arguments}
        if tool is None:
            record["error"] = {
                "code": int(Code.AGENT_TOOL_NOT_FOUND),
                "message": f"no tool named {call.name!r} is available to this agent",
            }
        else:
            try:
                out = await run.tools.execute(tool, call.arguments, run, caller=f"agent:{self.name}")
                record["output"] = out.get("result") if isinstance(out, dict) else out
            except LLMSpellError as e:
                record["error"] = {"code": e.code, "type": e.type, "message": e.message}
        return record

    # -- the model call ---------------------------------------------------------
    def _provider(self, spec: str) -> tuple[Provider, str, str]:
        if spec not in self._providers:
            self._providers[spec] = resolve_provider(spec, self.config, self.cfg)
        return self._providers[spec]

    def _check_budget(self, run: "RunContext", messages: list[dict[str, Any]]) -> None:
        b = self.config.settings.budget
        checks = []
        if self.cfg.max_budget_tokens is not None or self.cfg.max_cost is not None:
            checks.append(("agent '" + self.name + "'", self.usage, self.cfg.max_budget_tokens, self.cfg.max_cost))
        if b.max_tokens is not None or b.max_cost is not None:
            checks.append(("run", run.usage_total(), b.max_tokens, b.max_cost))
        if not checks:
            return
        need = estimate_tokens(messages) + (self.cfg.max_tokens or 0)
        for who, used, max_tokens, max_cost in checks:
            if max_tokens is not None and used.total_tokens + need > max_tokens:
                raise LLMSpellError(
                    Code.SYSTEM_RATE_LIMIT_EXCEEDED,
                    f"{who}: token budget {max_tokens} would be exceeded "
                    f"(used {used.total_tokens}, this call needs about {need})",
                    recoverable=False,
                    suggestions=["raise budget.max_tokens", "clear_history() to shorten the prompt"],
                )
            if max_cost is not None and used.cost >= max_cost:
                raise LLMSpellError(
                    Code.SYSTEM_RATE_LIMIT_EXCEEDED,
                    f"{who}: cost budget ${max_cost:g} is spent (used ${used.cost:.6f})",
                    recoverable=False,
                )

    async def _call_model(self, run: "RunContext", messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                          on_chunk: Callable[[str], Awaitable[Any]] | None = None,
                          response_format: dict[str, Any] | None = None) -> LLMResponse:
        hooks, bus = run.hooks, run.events
        cfg = self.cfg
        last: LLMSpellError | None = None
        for spec in [cfg.model, *cfg.fallbacks]:
            provider, model, pname = self._provider(spec)
            breaker = self.guards.breaker(pname)
            for attempt in range(cfg.attempts):
                if not breaker.allow():      # checked per attempt: the circuit may open during our retries
                    if attempt == 0:
                        last = ProviderError(f"{pname}: circuit open after repeated failures; not calling it "
                                             "for now", code=Code.SYSTEM_SERVICE_UNAVAILABLE, retryable=False)
                    break
                self._check_budget(run, messages)
                limiter = self.guards.limiter(pname)
                if limiter.rpm or limiter.tpm:
                    await limiter.acquire(estimate_tokens(messages) if limiter.tpm else 0)
                if cfg.rpm or cfg.tpm:
                    await self.guards.agent_limiter(self.name, cfg.rpm, cfg.tpm).acquire(
                        estimate_tokens(messages) if cfg.tpm else 0)
                req = LLMRequest(model, messages, tools, cfg.temperature, cfg.max_tokens, cfg.timeout, response_format)
                o = await hooks.fire("before_llm_call", "llm", self.name, run.id, input={
                    "model": spec, "messages": messages, "tools": [t["function"]["name"] for t in tools or []]})
                if o is not None:
                    if o.replaced:
                        return _as_response(o.output, spec)
                    changed = o.ctx["input"]
                    if isinstance(changed, dict) and isinstance(changed.get("messages"), list):
                        req.messages = changed["messages"]
                bus.emit("llm.request", {"agent": self.name, "model": spec, "messages": len(req.messages),
                                         "tools": len(tools or []), "attempt": attempt + 1}, self.name)
                t0 = time.perf_counter()
                try:
                    if on_chunk is not None:
                        resp = await asyncio.wait_for(self._stream(provider, req, on_chunk), cfg.timeout + 1)
                    else:
                        resp = await asyncio.wait_for(provider.complete(req), cfg.timeout + 1)
                except (asyncio.TimeoutError, TimeoutError):
                    err: LLMSpellError = ProviderError(
                        f"{pname}: no answer within {cfg.timeout:g}s", code=Code.AGENT_TIMEOUT, retryable=True
                    )
                except ProviderError as e:
                    err = e
                else:
                    breaker.success()
                    resp.model = spec
                    self.usage.add(resp.prompt_tokens, resp.completion_tokens, resp.cost)
                    run.record_usage(spec, self.name, resp)
                    bus.emit("llm.response", {"agent": self.name, "model": spec,
                                              "usage": resp.to_dict()["usage"],
                                              "tool_calls": len(resp.tool_calls),
                                              "duration_ms": round((time.perf_counter() - t0) * 1000, 3)}, self.name)
                    o = await hooks.fire("after_llm_call", "llm", self.name, run.id,
                                         input={"model": spec, "messages": req.messages}, output=resp.to_dict())
                    if o is not None:
                        resp = _as_response(o.output if o.replaced else o.ctx["output"], spec, resp)
                    return resp
                retryable = getattr(err, "retryable", False)
                if retryable:
                    breaker.failure()
                last = err
                if not retryable or attempt == cfg.attempts - 1:
                    break
                await asyncio.sleep(
                    backoff_delay(attempt, cfg.backoff, cfg.max_backoff, getattr(err, "retry_after", None))
                )
        assert last is not None
        raise last

    async def _stream(
        self, provider: Provider, req: LLMRequest, on_chunk: Callable[[str], Awaitable[Any]]
    ) -> LLMResponse:
        final: LLMResponse | None = None
        sent = False
        try:
            async for piece in provider.stream(req):
                if isinstance(piece, LLMResponse):
                    final = piece
                else:
                    sent = True
                    await on_chunk(piece)
        except ProviderError as e:
            if sent:      # the caller already saw part of the reply: a retry would repeat it
                e.retryable = False
            raise
        if final is None:
            raise ProviderError("stream ended without a response")
        return final

    # -- the loop ----------------------------------------------------------------
    async def execute(self, run: "RunContext", input: Any, *,
                      on_chunk: Callable[[str], Awaitable[Any]] | None = None,
                      response_format: dict[str, Any] | None = None, keep_history: bool = True) -> dict[str, Any]:
        hooks, bus = run.hooks, run.events
        if not isinstance(input, dict):
            input = {"input": input}
        o = await hooks.fire("before_agent_execution", "agent", self.name, run.id, input=input)
        if o is not None:
            if o.replaced:
                return o.output if isinstance(o.output, dict) else self._replaced(o.output)
            changed = o.ctx["input"]
            input = changed if isinstance(changed, dict) else {"input": changed}
        bus.emit("agent.started", {"agent": self.name, "model": self.cfg.model}, self.name)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._turn(run, input, on_chunk, response_format, keep_history)
                break
            except asyncio.CancelledError:
                raise
            except LLMSpellError as e:
                o = await hooks.fire("agent_error", "agent", self.name, run.id, input=input, error=e.to_dict(),
                                     attempt=attempt)
                if o is not None and o.retries(attempt):
                    continue
                if o is not None and o.replaced:
                    result = self._replaced(o.output)
                    break
                bus.emit("agent.error", {"agent": self.name, "error": e.to_dict()}, self.name)
                raise
        o = await hooks.fire("after_agent_execution", "agent", self.name, run.id, input=input, output=result)
        if o is not None:
            result = o.output if o.replaced else o.ctx["output"]
        bus.emit("agent.completed", {"agent": self.name, "usage": result.get("usage") if isinstance(result, dict)
                                     else None}, self.name)
        return result

    def _replaced(self, output: Any) -> dict[str, Any]:
        """The result of a turn a hook answered instead of the model."""
        return {"output": output, "tool_calls": [], "usage": Usage().to_dict(), "agent": self.name}

    async def _turn(self, run: "RunContext", input: dict[str, Any], on_chunk: Any, response_format: Any,
                    keep_history: bool) -> dict[str, Any]:
        text = input.get("input", input.get("text", input.get("prompt")))
        if text is None:
            raise LLMSpellError(
                Code.AGENT_INVALID_CONFIGURATION, f"agent '{self.name}': execute needs { {'input': '...'} }"
            )
        text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
        if input.get("context") not in (None, {}):
            text += "\n\nContext:\n" + json.dumps(input["context"], ensure_ascii=False, sort_keys=True, default=str)
        base = list(self.history)       # concurrent turns each see the history as it was
        local: list[dict[str, Any]] = [{"role": "user", "content": text}]
        before = Usage(0, self.usage.prompt_tokens, self.usage.completion_tokens, self.usage.cost)
        records: list[dict[str, Any]] = []
        specs = self._tool_specs()
        iteration = 0
        while True:
            offer = specs if iteration < self.cfg.max_iterations else None
            messages = self._system() + base + local
            resp = await self._call_model(run, messages, offer, on_chunk if not offer else None, response_format)
            if resp.tool_calls and offer:
                local.append({"role": "assistant", "content": resp.content,
                              "tool_calls": [{"id": c.id, "type": "function", "function": {
                                  "name": c.name, "arguments": json.dumps(c.arguments)}} for c in resp.tool_calls]})
                done = await asyncio.gather(*(self._run_tool(c, run) for c in resp.tool_calls))
                for call, rec in zip(resp.tool_calls, done):
                    records.append(rec)
                    payload = rec.get("output") if "error" not in rec else {"error": rec["error"]}
                    local.append({"role": "tool", "tool_call_id": call.id, "name": call.name,
                                  "content": payload if isinstance(payload, str)
                                  else json.dumps(payload, ensure_ascii=False, default=str)})
                iteration += 1
                continue
            if on_chunk is not None and offer and resp.content:
                await on_chunk(resp.content)    # tools were offered, so the answer came whole
            local.append({"role": "assistant", "content": resp.content or ""})
            break
        if keep_history:                       # a failed turn never got here: no half conversation
            self.history.extend(local)
            self._trim()
            self._save(run)
        u = self.usage
        usage = {"prompt_tokens": u.prompt_tokens - before.prompt_tokens,
                 "completion_tokens": u.completion_tokens - before.completion_tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage["cost"] = round(u.cost - before.cost, 8)
        out = {"output": resp.content or "", "tool_calls": records, "usage": usage, "agent": self.name}
        if resp.tool_calls:
            out["stopped"] = "max_iterations"     # the model still wanted tools when the rounds ran out
        return out

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        agent = self

        async def impl(inp: dict[str, Any], ctx: ToolContext) -> Any:
            run = cast("RunContext", ctx.run)     # tool contexts are made by runs
            res = await agent.execute(run, {"input": inp["input"], "context": inp.get("context")})
            return res["output"]
        schema = {"type": "object", "properties": {
            "input": {"type": "string", "description": "the request for this agent"},
            "context": {"type": "object", "description": "extra facts for the agent"}},
            "required": ["input"], "additionalProperties": False}
        return Tool(name or self.name, description or self.cfg.description or f"Ask the {self.name} agent",
                    schema, impl, category="agent", owner=self.owner, source="agent")

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.cfg.model, "description": self.cfg.description,
                "tools": sorted(self.tools)}


def _as_response(out: Any, spec: str, base: LLMResponse | None = None) -> LLMResponse:
    """A hook's replacement (a string or { content =, tool_calls = }) as a response."""
    if isinstance(out, LLMResponse):
        return out
    if isinstance(out, dict):
        calls = [ToolCall(c.get("id") or f"call_{i}", c.get("name") or c.get("tool"), c.get("input") or {})
                 for i, c in enumerate(out.get("tool_calls") or [])]
        r = base or LLMResponse(None, model=spec)
        return LLMResponse(out.get("content", r.content), calls, r.prompt_tokens, r.completion_tokens, r.cost,
                           spec, r.finish_reason)
    return LLMResponse(None if out is None else str(out), [], 0, 0, 0.0, spec, "stop")

"""The `mock/<anything>` provider: scripted answers, tool calls included, else echo.

Deterministic and offline, so the whole agent loop runs in tests and demos.
A scripted response is a string, a table `{ tool = "name", input = {...} }`
(one tool call), `{ tool_calls = { {tool=, input=}, ... }, content = ... }`
(several in one turn), `{ content = ... }`, or `{ error = "...", status = 500 }`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, AsyncIterator

from .base import LLMRequest, LLMResponse, ProviderError, ToolCall, estimate_tokens


class MockProvider:
    name = "mock"

    def __init__(self, responses: list[Any] | None = None, delay: float = 0.0) -> None:
        self.responses = list(responses or [])
        self.delay = delay
        self.index = 0

    def _next(self, req: LLMRequest) -> LLMResponse:
        step: Any = None
        if self.index < len(self.responses):
            step = self.responses[self.index]
            self.index += 1
        calls: list[ToolCall] = []
        content: str | None
        if step is None:
            users = [m for m in req.messages if m.get("role") == "user"]
            content = str(users[-1]["content"]) if users else ""
        elif isinstance(step, str):
            content = step
        elif isinstance(step, dict):
            if "error" in step:
                status = int(step.get("status", 500))
                raise ProviderError(f"mock: {step['error']}", status=status,
                                    retryable=status == 429 or status >= 500,
                                    retry_after=step.get("retry_after"))
            raw = step.get("tool_calls") or ([step] if "tool" in step else [])
            for c in raw:
                calls.append(ToolCall("call_" + uuid.uuid4().hex[:8], str(c.get("tool") or c.get("name")),
                                      c.get("input") or c.get("arguments") or {}))
            content = step.get("content")
            if content is not None and not isinstance(content, str):
                content = json.dumps(content)
            if content is None and not calls:
                content = json.dumps(step)
        else:
            content = json.dumps(step)
        return LLMResponse(content, calls, estimate_tokens(req.messages), estimate_tokens(content) if content else 0,
                           0.0, "mock/" + req.model, "tool_calls" if calls else "stop")

    async def complete(self, req: LLMRequest) -> LLMResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._next(req)

    async def stream(self, req: LLMRequest) -> AsyncIterator[str | LLMResponse]:
        resp = self._next(req)
        words = (resp.content or "").split(" ")
        for i, w in enumerate(words):
            if self.delay:
                await asyncio.sleep(self.delay / max(1, len(words)))
            yield w if i == 0 else " " + w
        yield resp

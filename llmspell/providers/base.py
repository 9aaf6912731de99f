"""What every provider takes and returns, and how it reports failure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol

from ..errors import Code, LLMSpellError


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class LLMRequest:
    model: str                        # the model name within the provider
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None     # OpenAI function specs
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LLMResponse:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    model: str = ""
    finish_reason: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"content": self.content, "model": self.model, "finish_reason": self.finish_reason,
                "tool_calls": [{"id": t.id, "name": t.name, "input": t.arguments} for t in self.tool_calls],
                "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                          "total_tokens": self.total_tokens, "cost": self.cost}}


class ProviderError(LLMSpellError):
    """A provider call failed; `retryable` and `retry_after` guide the retry loop."""

    def __init__(self, message: str, *, code: int = Code.AGENT_LLM_CALL_FAILED, status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(code, message, recoverable=retryable)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    name: str

    async def complete(self, req: LLMRequest) -> LLMResponse: ...
    def stream(self, req: LLMRequest) -> AsyncIterator[str | LLMResponse]: ...


def estimate_tokens(value: Any) -> int:
    """A cheap token estimate (~4 characters a token) for budgets and trimming."""
    if value is None:
        return 0
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, (len(text) + 3) // 4)

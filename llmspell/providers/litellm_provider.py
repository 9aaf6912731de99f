"""Every provider litellm knows, and any OpenAI-compatible server via base_url.

litellm is imported on first use (it takes seconds), with its local cost map so
import makes no network connection.
"""

from __future__ import annotations

import json
import os
from typing import Any, AsyncIterator

from ..errors import Code
from .base import LLMRequest, LLMResponse, ProviderError, ToolCall

_litellm: Any = None

# Providers whose base_url (if set) is still the provider's own paid API.
LITELLM_CLOUD = {"openai", "azure", "anthropic", "groq", "mistral", "together_ai", "cohere", "gemini",
                 "vertex_ai", "bedrock", "deepseek", "fireworks_ai", "openrouter", "perplexity", "xai"}


def load_litellm() -> Any:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import warnings
        # litellm's own types trigger pydantic warnings that say nothing to a spell's user
        warnings.filterwarnings("ignore", message=".*ReadOnly.*", category=UserWarning)
        warnings.filterwarnings("ignore", module="litellm")
        import litellm
        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True
        _litellm = litellm
    return _litellm


class LiteLLMProvider:
    def __init__(self, name: str, model_prefix: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.prefix = model_prefix          # what litellm sees before "/": "openai", "anthropic", …
        self.settings = settings
        load_litellm()      # now, not inside the first call's timeout: a cold import takes seconds

    def _kwargs(self, req: LLMRequest, stream: bool = False) -> dict[str, Any]:
        s = self.settings
        kw: dict[str, Any] = {"model": f"{self.prefix}/{req.model}", "messages": req.messages,
                              "timeout": req.timeout, "max_retries": 0, "num_retries": 0}
        if s.get("base_url"):
            kw["api_base"] = s["base_url"]
            kw["api_key"] = s.get("api_key") or "sk-no-key"
        elif s.get("api_key"):
            kw["api_key"] = s["api_key"]
        if req.tools:
            kw["tools"] = req.tools
        if req.temperature is not None:
            kw["temperature"] = req.temperature
        if req.max_tokens is not None:
            kw["max_tokens"] = req.max_tokens
        if req.response_format:
            kw["response_format"] = req.response_format
        if stream:
            kw["stream"] = True
            kw["stream_options"] = {"include_usage": True}
        kw.update(req.extra)
        return kw

    async def complete(self, req: LLMRequest) -> LLMResponse:
        litellm = load_litellm()
        try:
            r = await litellm.acompletion(**self._kwargs(req))
        except Exception as e:
            raise _translate(e, self.name) from None
        return self._response(r, req)

    def _response(self, r: Any, req: LLMRequest) -> LLMResponse:
        try:
            choice = r.choices[0]
            msg = choice.message
            calls = []
            for tc in getattr(msg, "tool_calls", None) or []:
                try:
                    args = json.loads(tc.function.arguments or "{}")
                except ValueError:
                    args = {"_raw": tc.function.arguments}
                calls.append(ToolCall(tc.id, tc.function.name, args if isinstance(args, dict) else {"value": args}))
            usage = getattr(r, "usage", None)
            pt = int(getattr(usage, "prompt_tokens", 0) or 0)
            ct = int(getattr(usage, "completion_tokens", 0) or 0)
        except (AttributeError, IndexError, TypeError) as e:
            raise ProviderError(f"{self.name}: malformed response from the model server: {e}") from None
        return LLMResponse(msg.content, calls, pt, ct, self._cost(req.model, pt, ct),
                           f"{self.name}/{req.model}", getattr(choice, "finish_reason", None))

    def _self_hosted(self) -> bool:
        """An OpenAI-compatible server of the user's own (not a cloud provider's API)."""
        return bool(self.settings.get("base_url")) and self.name not in LITELLM_CLOUD

    def _cost(self, model: str, pt: int, ct: int) -> float:
        s = self.settings
        if self._self_hosted() or "input_cost_per_token" in s:
            return pt * float(s.get("input_cost_per_token", 0.0)) + ct * float(s.get("output_cost_per_token", 0.0))
        try:
            p, c = load_litellm().cost_per_token(model=model, prompt_tokens=pt, completion_tokens=ct,
                                                 custom_llm_provider=self.prefix)
            return float(p + c)
        except Exception:
            return 0.0     # a model missing from the price map costs nothing we can know

    async def stream(self, req: LLMRequest) -> AsyncIterator[str | LLMResponse]:
        litellm = load_litellm()
        try:
            it = await litellm.acompletion(**self._kwargs(req, stream=True))
            parts: list[str] = []
            pt = ct = 0
            finish = None
            async for chunk in it:
                usage = getattr(chunk, "usage", None)
                if usage:
                    pt = int(getattr(usage, "prompt_tokens", 0) or pt)
                    ct = int(getattr(usage, "completion_tokens", 0) or ct)
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                finish = chunk.choices[0].finish_reason or finish
                text = getattr(delta, "content", None)
                if text:
                    parts.append(text)
                    yield text
        except ProviderError:
            raise
        except Exception as e:
            raise _translate(e, self.name) from None
        content = "".join(parts)
        if not ct:
            ct = max(1, len(content) // 4)
        yield LLMResponse(content, [], pt, ct, self._cost(req.model, pt, ct), f"{self.name}/{req.model}", finish)


def _translate(e: Exception, provider: str) -> ProviderError:
    """litellm's exception zoo → one ProviderError with retry guidance."""
    status = getattr(e, "status_code", None)
    kind = type(e).__name__
    headers = getattr(e, "litellm_response_headers", None) or {}
    retry_after = None
    try:
        ra = headers.get("retry-after") if hasattr(headers, "get") else None
        retry_after = float(ra) if ra is not None else None
    except (TypeError, ValueError):
        retry_after = None
    msg = str(getattr(e, "message", None) or e).replace("litellm.", "")
    for secret_hint in ("sk-", "Bearer "):
        if secret_hint in msg:
            msg = msg.split(secret_hint)[0] + secret_hint + "…"
    if kind in ("Timeout", "APITimeoutError") or status == 408:
        return ProviderError(f"{provider}: request timed out", code=Code.AGENT_TIMEOUT, status=408, retryable=True)
    if kind == "RateLimitError" or status == 429:
        return ProviderError(
            f"{provider}: rate limited (429): {msg}",
            code=Code.SYSTEM_RATE_LIMIT_EXCEEDED,
            status=429,
            retryable=True,
            retry_after=retry_after,
        )
    if kind in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return ProviderError(
            f"{provider}: authentication failed ({status}); check the API key",
            code=Code.SYSTEM_AUTHENTICATION_FAILED,
            status=status,
        )
    if kind == "APIConnectionError":
        return ProviderError(
            f"{provider}: cannot reach the model server: {msg}", code=Code.SYSTEM_NETWORK_FAILURE, retryable=True
        )
    if status is not None and int(status) >= 500:
        return ProviderError(f"{provider}: server error ({status}): {msg}", status=int(status), retryable=True,
                             retry_after=retry_after)
    return ProviderError(f"{provider}: {msg}", status=status)

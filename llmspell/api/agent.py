"""`Agent` — not built yet; every entry says so clearly (error 4007)."""

from __future__ import annotations

from typing import Any

from ..errors import LLMSpellError
from .registry import api


def _missing(name: str) -> LLMSpellError:
    return LLMSpellError(4007, f"{name} is not implemented yet in this llmspell version",
                         type_="APINotAvailable", suggestions=["agents arrive with the LLM provider layer"])


@api("Agent.new")
def new(run: Any, config: dict[str, Any] | None = None) -> Any:
    raise _missing("Agent.new")


@api("Agent.get")
def get(run: Any, name: str) -> Any:
    raise _missing("Agent.get")


@api("Agent.list")
def list_(run: Any) -> Any:
    raise _missing("Agent.list")


@api("Agent.template")
def template(run: Any, name: str, overrides: dict[str, Any] | None = None) -> Any:
    raise _missing("Agent.template")


@api("Agent.execute")
async def execute(run: Any, name: str, input: Any = None) -> Any:
    raise _missing("Agent.execute")

"""`Workflow` — not built yet; every builder says so clearly (error 4007)."""

from __future__ import annotations

from typing import Any

from ..errors import LLMSpellError
from .registry import api


def _missing(name: str) -> LLMSpellError:
    return LLMSpellError(4007, f"Workflow.{name} is not implemented yet in this llmspell version",
                         type_="APINotAvailable")


@api("Workflow.sequential")
def sequential(run: Any, spec: dict[str, Any]) -> Any:
    raise _missing("sequential")


@api("Workflow.parallel")
def parallel(run: Any, spec: dict[str, Any]) -> Any:
    raise _missing("parallel")


@api("Workflow.conditional")
def conditional(run: Any, spec: dict[str, Any]) -> Any:
    raise _missing("conditional")


@api("Workflow.loop")
def loop(run: Any, spec: dict[str, Any]) -> Any:
    raise _missing("loop")


@api("Workflow.map_reduce")
def map_reduce(run: Any, spec: dict[str, Any]) -> Any:
    raise _missing("map_reduce")

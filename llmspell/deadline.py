"""The time limit of the work running now, when it is not its run's.

A run has one deadline (`EngineHost.deadline`). Under `llmspell serve` the jobs
of one resident spell share the spell's engine and run at once, each firing
with its own limit: a firing sets `current` in its asyncio task's context
(tasks it starts, such as `Async.all` branches and event deliveries, inherit
it), and an engine's time check prefers it to the run's deadline — so one
job's end never moves another's limit — and reports its message.
Standard library only.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


@dataclass(eq=False)
class Deadline:
    at: float           # time.monotonic() at which the limit expires (may be moved earlier)
    message: str        # what a stopped run reports, naming the limit that was hit


current: ContextVar[Deadline | None] = ContextVar("llmspell_deadline", default=None)


class LimitedRun(Protocol):
    deadline: float

    def timeout_message(self) -> str: ...


def limit_at(run: LimitedRun) -> float:
    """When the work running now must stop: its firing's limit, else its run's."""
    d = current.get()
    return run.deadline if d is None else d.at


def limit_message(run: LimitedRun) -> str:
    """What the work running now reports when stopped (names the limit it hit)."""
    d = current.get()
    return run.timeout_message() if d is None else d.message

"""What a run offers to core code: the one typed seam between core and the runtime.

Agents, tools, workflows and the API functions receive a `RunContext`; the
runtime's `SpellRun` is the implementation, and core never imports it. Whatever
core needs of a run is declared here, so the list of what a run must provide —
for a local run today, a worker process or a remote worker later — is in one
place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from .events import EventBus
from .hooks import HookRegistry
from .resilience import ProviderGuards, Usage
from .tools import ToolContext, ToolRegistry

if TYPE_CHECKING:
    from ..config import Config
    from ..storage.base import KV


class AgentLike(Protocol):
    """What the rest of core needs of an agent (workflow steps, jobs, `Agent.get`)."""
    name: str
    owner: object

    async def execute(self, run: "RunContext", input: Any) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...


class ModelResponse(Protocol):
    """The part of a model response usage accounting reads."""
    prompt_tokens: int
    completion_tokens: int
    cost: float


# Where `Scheduler.register` hands a job spec when something (the daemon) will
# fire jobs; a plain run has none and only lists them.
JobSink = Callable[["RunContext", dict[str, Any]], None]


class RunContext(Protocol):
    """One run of a spell, as core sees it."""

    id: str                     # the run id (records, events, hook contexts)
    display: str                # the spell as a person names it (events, errors)
    debug: bool
    config: "Config"
    hooks: HookRegistry
    events: EventBus
    tools: ToolRegistry
    tool_context: ToolContext
    agents: dict[str, AgentLike]    # name → Agent, shared by the runtime's runs
    guards: ProviderGuards          # circuit breakers and rate limiters, per provider
    scheduler_jobs: list[dict[str, Any]]
    job_sink: JobSink | None

    def kv(self, namespace: str = "") -> "KV":
        """The JSON key-value store, optionally under a namespace."""
        ...

    def next_name(self, kind: str) -> str:
        """A default name (`agent_1`, `sequential_2`): numbered per runtime, so names
        do not depend on what ran earlier in the process."""
        ...

    def take_resume(self, workflow: str) -> str | None:
        """The run id given to resume, for the first checkpointed workflow it belongs to."""
        ...

    def record_usage(self, model: str, agent: str, resp: ModelResponse) -> None: ...
    def usage_total(self) -> Usage: ...
    def write(self, text: str) -> None: ...
    def write_raw(self, text: str) -> None: ...

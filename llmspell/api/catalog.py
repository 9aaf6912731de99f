"""The whole spell API as one registry, built from an explicit list of modules.

The order of `MODULES` is the order globals are declared in (and listed in the
generated docs). A new API module is added here, nowhere else.
"""

from __future__ import annotations

from functools import lru_cache

from . import agent, async_, events, hooks, misc, scheduler, storage, tools, workflow
from .registry import ApiRegistry

MODULES = (tools, agent, async_, events, hooks, misc, scheduler, storage, workflow)


@lru_cache(maxsize=1)
def default_registry() -> ApiRegistry:
    """The registry of every declared API function (built once per process: it is immutable)."""
    return ApiRegistry.from_modules(MODULES)

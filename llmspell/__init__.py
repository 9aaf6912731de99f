"""llmspell: run Lua (and JavaScript) spells that orchestrate tools, agents and workflows.

    import llmspell
    rt = llmspell.Runtime(config="llmspell.toml")
    rt.run_file("spells/hello.lua", params={"name": "Ada"})
"""

from __future__ import annotations

from .core.tools import Tool
from .errors import ConfigError, LLMSpellError, SpellFailed, UsageError
from .runtime import RunResult, Runtime
from .version import __version__

__all__ = ["Runtime", "RunResult", "Tool", "LLMSpellError", "ConfigError", "SpellFailed",
           "UsageError", "__version__"]

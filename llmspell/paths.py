"""Where the package's data lives (the builtins/ folder of Lua/JS preludes)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def builtins_dir() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (here / "_builtins", here.parent / "builtins"):
        if (cand / "lua" / "prelude.lua").is_file():
            return cand
    raise RuntimeError("llmspell is installed without its builtins/ data folder")

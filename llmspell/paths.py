"""Where the package's data lives (the builtins/ folder of Lua/JS preludes), and how
files are named to people."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def builtins_dir() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (here / "_builtins", here.parent / "builtins"):
        if (cand / "lua" / "prelude.lua").is_file():
            return cand
    raise RuntimeError("llmspell is installed without its builtins/ data folder")


def display_path(path: str | os.PathLike[str]) -> str:
    """How a spell or module file is named in messages, tracebacks and events.

    The path relative to the working directory, unless that starts with '..'
    (the file lies outside it) or there is none (another drive on Windows):
    then the absolute path with symlinks resolved. Stays a leaf: imports
    nothing from llmspell.
    """
    try:
        rel = os.path.relpath(path)
    except ValueError:          # another drive (Windows)
        return os.path.realpath(path)
    return os.path.realpath(path) if rel.startswith("..") else rel

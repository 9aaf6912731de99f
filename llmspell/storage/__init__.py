"""Storage backends behind one Store protocol."""

from __future__ import annotations

from ..config import Config
from ..errors import Code, LLMSpellError
from .base import KV, Store, Transaction
from .memory import MemoryStore

__all__ = ["KV", "Store", "Transaction", "MemoryStore", "open_store"]


def open_store(config: Config) -> Store:
    backend = config.settings.storage.backend
    if backend == "memory":
        return MemoryStore()
    if backend == "leveldb":
        from .leveldb import open_leveldb
        return open_leveldb(config.data_dir, config.settings.storage.lock_timeout)
    raise LLMSpellError(Code.SCRIPT_API_NOT_AVAILABLE, f"storage backend {backend!r} is not implemented yet",
                        suggestions=["use backend = \"leveldb\" or \"memory\""])

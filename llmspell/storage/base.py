"""The Store protocol (bytes in, bytes out) and the JSON key-value layer over it."""

from __future__ import annotations

import json
from typing import Any, Iterator, Protocol

from ..errors import Code, LLMSpellError, StorageError

USER_PREFIX = b"kv/"


class Store(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def iterate(self, prefix: bytes, *, start: bytes | None = None,
                values: bool = True) -> Iterator[tuple[bytes, bytes | None]]: ...
    def write_batch(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None: ...
    def close(self) -> None: ...


def encode(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as e:
        raise StorageError(f"value cannot be stored: {e}",
                            suggestions=["store strings, numbers, booleans, tables/lists of them"]) from None


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"storage key must be a non-empty string, got {key!r}")
    return key


class KV:
    """JSON values under a namespace prefix; what `Storage` and `state` commands use."""

    def __init__(self, store: Store, namespace: str = "", on_change: Any = None) -> None:
        self.store = store
        self.namespace = namespace
        self.prefix = USER_PREFIX + (f"{namespace}\x00".encode() if namespace else b"")
        self.on_change = on_change

    def _k(self, key: Any) -> bytes:
        return self.prefix + _check_key(key).encode()

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.store.get(self._k(key))
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self.delete(key)
            return
        self.store.put(self._k(key), encode(value))
        if self.on_change:
            self.on_change(self.namespace, key, "set")

    def exists(self, key: str) -> bool:
        return self.store.get(self._k(key)) is not None

    def delete(self, key: str) -> bool:
        k = self._k(key)
        existed = self.store.get(k) is not None
        self.store.delete(k)
        if existed and self.on_change:
            self.on_change(self.namespace, key, "delete")
        return existed

    def list(self, prefix: str = "") -> list[str]:
        p = self.prefix + prefix.encode()
        n = len(self.prefix)
        return [k[n:].decode() for k, _ in self.store.iterate(p, values=False)
                if self.namespace or b"\x00" not in k[n:]]

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        n = len(self.prefix)
        return [(k[n:].decode(), json.loads(v)) for k, v in self.store.iterate(self.prefix + prefix.encode())
                if v is not None and (self.namespace or b"\x00" not in k[n:])]

    def set_batch(self, values: dict[str, Any]) -> None:
        self.commit({k: v for k, v in values.items()})

    def get_batch(self, keys: list[str]) -> dict[str, Any]:
        return {k: self.get(k) for k in keys}

    def commit(self, writes: dict[str, Any]) -> None:
        """Apply all writes (None deletes) atomically."""
        puts = [(self._k(k), encode(v)) for k, v in writes.items() if v is not None]
        dels = [self._k(k) for k, v in writes.items() if v is None]
        self.store.write_batch(puts, dels)
        if self.on_change:
            for k, v in writes.items():
                self.on_change(self.namespace, k, "delete" if v is None else "set")

    def namespaces(self) -> list[str]:
        seen: list[str] = []
        for k, _ in self.store.iterate(USER_PREFIX, values=False):
            rest = k[len(USER_PREFIX):]
            if b"\x00" in rest:
                ns = rest.split(b"\x00", 1)[0].decode()
                if not seen or seen[-1] != ns:
                    seen.append(ns)
        return seen


class Transaction:
    """Buffered writes with read-your-writes; committed all at once or not at all."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.writes: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        _check_key(key)
        encode(value)  # fail now, not at commit
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[_check_key(key)] = None

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.writes:
            v = self.writes[key]
            return default if v is None else v
        return self.kv.get(key, default)

    def exists(self, key: str) -> bool:
        return self.get(key) is not None

    def commit(self) -> None:
        if self.writes:
            self.kv.commit(self.writes)

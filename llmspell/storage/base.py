"""The Store protocol (bytes in, bytes out) and the JSON key-value layer over it."""

from __future__ import annotations

import json
from typing import Any, Iterator, Protocol

from ..errors import Code, LLMSpellError, StorageError

USER_PREFIX = b"kv/"
NS_SEP = b"\x00"          # kv/<namespace>\0<key>; kv/<key> in the main namespace
EVENT_PREFIX = b"__events__/"   # core.events keeps the event history here

# Namespaces llmspell keeps its own records in (the daemon's job history and state,
# workflow checkpoints, persisted agent memory). Spells cannot open them
# (`Storage.namespace` refuses these names); `Runtime.kv(name)` and the `llmspell
# state --namespace` commands can. A new internal namespace is added here
# (tests/security/test_sec_storage.py checks every `.kv("…")` in the package).
INTERNAL_NAMESPACES = frozenset({"agents", "jobs", "jobs_state", "workflows"})


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
    if "\x00" in key:
        # NUL separates a namespace from its keys: "ns\0k" would reach namespace ns
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"storage key must not contain NUL (\\0): {key!r}")
    return key


def _check_prefix(prefix: Any) -> str:
    if not isinstance(prefix, str):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"storage prefix must be a string, got {prefix!r}")
    if "\x00" in prefix:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"storage prefix must not contain NUL (\\0): {prefix!r}")
    return prefix


def check_namespace(name: Any) -> str:
    """A namespace name: a string without NUL ('' is the main namespace)."""
    if not isinstance(name, str) or "\x00" in name:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR,
                            f"storage namespace must be a string without NUL (\\0), got {name!r}")
    return name


def _text(b: bytes) -> str:
    return repr(b.decode("utf-8", "backslashreplace"))


def describe_key(key: bytes) -> str:
    """A stored key as people know it: "key 'k' in namespace 'ns'"."""
    if key.startswith(USER_PREFIX):
        rest = key[len(USER_PREFIX):]
        if NS_SEP in rest:
            ns, k = rest.split(NS_SEP, 1)
            return f"key {_text(k)} in namespace {_text(ns)}"
        return f"key {_text(rest)}"
    if key.startswith(EVENT_PREFIX):
        return f"event {_text(key[len(EVENT_PREFIX):])}"
    return f"key {_text(key)}"


def describe_range(prefix: bytes, after: bytes | None = None) -> str:
    """A scanned key range: "keys starting with 'p' in namespace 'ns', after key …"."""
    if prefix.startswith(USER_PREFIX):
        rest = prefix[len(USER_PREFIX):]
        ns, sep, p = rest.partition(NS_SEP)
        if not sep:
            ns, p = b"", rest
        where = f"in namespace {_text(ns)}" if sep else "in the main namespace"
        text = (f"keys starting with {_text(p)} " if p else "all keys ") + where
    elif prefix.startswith(EVENT_PREFIX):
        text = "the event history"
    else:
        text = f"keys starting with {_text(prefix)}"
    return text + (f", after {describe_key(after)}" if after else "")


def count_keys(keys: list[bytes]) -> dict[str, Any]:
    """How many keys of each kind: the main namespace, each namespace, events, other."""
    out: dict[str, Any] = {"keys": len(keys), "main": 0, "namespaces": {}, "events": 0, "other": 0}
    for k in keys:
        if k.startswith(USER_PREFIX):
            rest = k[len(USER_PREFIX):]
            if NS_SEP in rest:
                ns = rest.split(NS_SEP, 1)[0].decode("utf-8", "backslashreplace")
                out["namespaces"][ns] = out["namespaces"].get(ns, 0) + 1
            else:
                out["main"] += 1
        elif k.startswith(EVENT_PREFIX):
            out["events"] += 1
        else:
            out["other"] += 1
    return out


class KV:
    """JSON values under a namespace prefix; what `Storage` and `state` commands use."""

    def __init__(self, store: Store, namespace: str = "", on_change: Any = None) -> None:
        self.store = store
        self.namespace = check_namespace(namespace)
        self.prefix = USER_PREFIX + (namespace.encode() + NS_SEP if namespace else b"")
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
        p = self.prefix + _check_prefix(prefix).encode()
        n = len(self.prefix)
        return [k[n:].decode() for k, _ in self.store.iterate(p, values=False)
                if self.namespace or b"\x00" not in k[n:]]

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        n = len(self.prefix)
        return [(k[n:].decode(), json.loads(v)) for k, v in self.store.iterate(self.prefix + _check_prefix(prefix).encode())
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

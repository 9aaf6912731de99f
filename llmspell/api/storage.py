"""`Storage` and storage namespaces: the same methods on both."""

from __future__ import annotations

from typing import Any

from ..boundary import ObjectRef, ScriptFunction
from ..core.context import RunContext
from ..errors import Code, LLMSpellError
from ..storage import KV, Transaction
from ..storage.base import INTERNAL_NAMESPACES
from .registry import api, method


def _default(run: RunContext) -> KV:
    return run.kv("")


_G = ("Storage", _default)


@method("StorageNamespace", "get", also_global=_G, waits=True)
def get(run: RunContext, kv: KV, key: str, default: Any = None) -> Any:
    """The value at `key`, or `default` (nil) when absent."""
    return kv.get(key, default)


@method("StorageNamespace", "set", also_global=_G, waits=True)
def set_(run: RunContext, kv: KV, key: str, value: Any) -> None:
    """Store any JSON-able value; nil deletes."""
    kv.set(key, value)


@method("StorageNamespace", "exists", also_global=_G, waits=True)
def exists(run: RunContext, kv: KV, key: str) -> bool:
    return kv.exists(key)


@method("StorageNamespace", "delete", also_global=_G, waits=True)
def delete(run: RunContext, kv: KV, key: str) -> bool:
    """Remove `key`; true when it existed."""
    return kv.delete(key)


@method("StorageNamespace", "list", also_global=_G, waits=True)
def list_(run: RunContext, kv: KV, prefix: str = "") -> list[str]:
    """Keys starting with `prefix`, sorted."""
    return kv.list(prefix)


@method("StorageNamespace", "set_batch", also_global=_G, waits=True)
def set_batch(run: RunContext, kv: KV, values: dict[str, Any]) -> None:
    """Set several keys at once, atomically."""
    kv.set_batch(values)


@method("StorageNamespace", "get_batch", also_global=_G, waits=True)
def get_batch(run: RunContext, kv: KV, keys: list[str]) -> dict[str, Any]:
    return kv.get_batch(keys)


@method("StorageNamespace", "transaction", also_global=_G, waits=True)
async def transaction(run: RunContext, kv: KV, fn: ScriptFunction) -> Any:
    """Run fn(tx); its writes apply all together when it returns, none if it fails."""
    tx = Transaction(kv)
    result = await fn(ObjectRef("Transaction", tx))
    tx.commit()
    return result


@api("Storage.namespace")
def namespace(run: RunContext, name: str) -> ObjectRef:
    """The same API with keys isolated under `name`."""
    if not name or "\x00" in name:
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR,
                            f"Storage.namespace: name must be a non-empty string without NUL (\\0), got {name!r}")
    if name in INTERNAL_NAMESPACES:
        raise LLMSpellError(Code.SCRIPT_PERMISSION_DENIED,
                            f"Storage.namespace: {name!r} is reserved for llmspell's own records",
                            suggestions=["pick another name; reserved: " + ", ".join(sorted(INTERNAL_NAMESPACES))])
    return ObjectRef("StorageNamespace", run.kv(name), {"name": name})


@method("Transaction", "get")
def tx_get(run: RunContext, tx: Transaction, key: str, default: Any = None) -> Any:
    return tx.get(key, default)


@method("Transaction", "set")
def tx_set(run: RunContext, tx: Transaction, key: str, value: Any) -> None:
    tx.set(key, value)


@method("Transaction", "delete")
def tx_delete(run: RunContext, tx: Transaction, key: str) -> None:
    tx.delete(key)


@method("Transaction", "exists")
def tx_exists(run: RunContext, tx: Transaction, key: str) -> bool:
    return tx.exists(key)

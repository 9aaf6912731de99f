"""In-process store; nothing survives the process."""

from __future__ import annotations

import bisect
from typing import Iterator


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._keys: list[bytes] | None = []

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self.data:
            self._keys = None
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        if self.data.pop(key, None) is not None:
            self._keys = None

    def _sorted(self) -> list[bytes]:
        if self._keys is None:
            self._keys = sorted(self.data)
        return self._keys

    def iterate(self, prefix: bytes, *, start: bytes | None = None,
                values: bool = True) -> Iterator[tuple[bytes, bytes | None]]:
        keys = self._sorted()
        i = bisect.bisect_left(keys, max(prefix, start or b""))
        for k in list(keys[i:]):
            if not k.startswith(prefix):
                break
            if k in self.data:
                yield k, (self.data[k] if values else None)

    def write_batch(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        for k in deletes:
            self.delete(k)
        for k, v in puts:
            self.put(k, v)

    def close(self) -> None:
        pass

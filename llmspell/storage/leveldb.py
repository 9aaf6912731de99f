"""LevelDB store (plyvel) with a designed hand-off between processes.

LevelDB allows one process per database. This store opens the database lazily,
waits (up to `lock_timeout`) while another llmspell process holds it, and lets
go of it when asked (`release`) so short commands from a second terminal get a
turn. Inside one process there is exactly one handle per path: a second open
attempt in the same process would drop the process's own fcntl lock.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import StorageError

_HANDLES: dict[str, "LevelDBStore"] = {}
_GUARD = threading.Lock()


def open_leveldb(path: Path, lock_timeout: float = 10.0) -> "LevelDBStore":
    """The one store object for this path in this process."""
    key = str(path.resolve())
    with _GUARD:
        st = _HANDLES.get(key)
        if st is None:
            st = _HANDLES[key] = LevelDBStore(Path(key), lock_timeout)
        st.refs += 1
        return st


class LevelDBStore:
    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.db: Any = None
        self.refs = 0
        self.used = False     # set on every access; `release_if_idle` clears it

    def _open(self) -> Any:
        if self.db is not None:
            return self.db
        import plyvel
        self.path.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                self.db = plyvel.DB(str(self.path), create_if_missing=True)
                (self.path / "OWNER").write_text(str(os.getpid()))
                return self.db
            except plyvel.IOError as e:
                if "lock" not in str(e).lower():
                    raise StorageError(f"cannot open storage at {self.path}: {e}"
                    ) from None
                if time.monotonic() >= deadline:
                    owner = ""
                    try:
                        owner = f" (pid {(self.path / 'OWNER').read_text().strip()})"
                    except OSError:
                        pass
                    raise StorageError(f"storage at {self.path} is in use by another llmspell process{owner}; "
                        f"waited {self.lock_timeout:g}s",
                        suggestions=[
                            "wait for the other run to finish",
                            "raise storage.lock_timeout",
                            "talk to a running daemon instead of opening its database",
                        ],
                        recoverable=True,
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
            except plyvel.CorruptionError as e:
                raise StorageError(f"storage at {self.path} is corrupted: {e}",
                                    suggestions=["restore from `llmspell state export` output"]) from None

    def get(self, key: bytes) -> bytes | None:
        self.used = True
        return (self.db or self._open()).get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.used = True
        (self.db or self._open()).put(key, value)

    def delete(self, key: bytes) -> None:
        self.used = True
        (self.db or self._open()).delete(key)

    def iterate(self, prefix: bytes, *, start: bytes | None = None,
                values: bool = True) -> Iterator[tuple[bytes, bytes | None]]:
        self.used = True
        db = self.db or self._open()
        snap = db.snapshot()
        if start and start > prefix:
            it = snap.iterator(start=start, prefix=None, include_value=values)
            for item in it:
                k, v = item if values else (item, None)
                if not k.startswith(prefix):
                    break
                yield k, v
        else:
            for item in snap.iterator(prefix=prefix, include_value=values):
                yield item if values else (item, None)

    def write_batch(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        self.used = True
        db = self.db or self._open()
        with db.write_batch(transaction=True) as wb:
            for k in deletes:
                wb.delete(k)
            for k, v in puts:
                wb.put(k, v)

    def release_if_idle(self) -> None:
        """Hand the database to other processes when nothing used it since the last check."""
        if self.db is not None and not self.used:
            self.release()
        self.used = False

    def release(self) -> None:
        """Close the handle (and the lock) until the next access."""
        if self.db is not None:
            self.db.close()
            self.db = None

    def close(self) -> None:
        with _GUARD:
            self.refs -= 1
            if self.refs <= 0:
                self.release()
                _HANDLES.pop(str(self.path), None)

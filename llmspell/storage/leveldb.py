"""LevelDB store (plyvel) with a designed hand-off between processes.

LevelDB allows one process per database. This store opens the database lazily,
waits (up to `lock_timeout`) while another llmspell process holds it, and lets
go of it when asked (`release`) so short commands from a second terminal get a
turn. Inside one process there is exactly one handle per path: a second open
attempt in the same process would drop the process's own fcntl lock.

Nothing is lost silently. The database is never created over existing table
files (a missing `CURRENT` would otherwise make LevelDB start an empty database
and delete the old tables); it is opened with `paranoid_checks` and every read
verifies checksums, so damage stops with a StorageError (6002) naming the file
or the key range and `llmspell state repair`, instead of a record quietly
skipped or a raw plyvel exception.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from ..errors import StorageError
from .base import describe_key, describe_range

_HANDLES: dict[str, "LevelDBStore"] = {}
_Error: Any = ()      # plyvel.Error once plyvel is imported (by the first open)
_GUARD = threading.Lock()

# files that hold data: tables, write-ahead logs, manifests (LOCK, LOG, OWNER do not)
_DATA_FILE = re.compile(r"(\d+\.(ldb|sst|log)|MANIFEST-\d+)")
_BLOCK = 32768          # LevelDB's log block size
_LOG_TYPES = (1, 2, 3, 4)   # full, first, middle, last


def open_leveldb(path: Path, lock_timeout: float = 10.0) -> "LevelDBStore":
    """The one store object for this path in this process."""
    key = str(path.resolve())
    with _GUARD:
        st = _HANDLES.get(key)
        if st is None:
            st = _HANDLES[key] = LevelDBStore(Path(key), lock_timeout)
        st.refs += 1
        return st


def _msg(e: BaseException) -> str:
    a = e.args[0] if e.args else e
    return a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)


def repair_hints(path: Path) -> list[str]:
    return [f"stop every llmspell process using {path}, then run `llmspell state repair`: it rebuilds the "
            "database from the files that are left (unusable ones go to lost/) and checks every key",
            "or restore from a copy made with `llmspell state export`"]


def damaged(path: Path, what: str) -> StorageError:
    return StorageError(f"storage at {path} is damaged: {what}", suggestions=repair_hints(path))


def data_files(path: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if _DATA_FILE.fullmatch(n))
    except OSError:
        return []


def _holder(path: Path) -> str:
    """' (pid N)' of the llmspell process that last opened the database, if it still runs."""
    try:
        pid = int((path / "OWNER").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return ""
    return f" (pid {pid})"


def _busy(path: Path, waited: float, again: bool = False) -> StorageError:
    return StorageError(
        f"storage at {path} is {'still ' if again else ''}in use by another llmspell process{_holder(path)}; "
        f"waited {waited:g}s",
        suggestions=[
            "wait for the other run to finish",
            "raise storage.lock_timeout",
            "talk to a running daemon instead of opening its database",
        ],
        recoverable=True,
    )


def _is_lock_conflict(msg: str) -> bool:
    """LevelDB's 'IO error: lock …/LOCK: Resource temporarily unavailable' (another process)."""
    return "lock " in msg and any(w in msg for w in ("unavailable", "already held", "denied"))


def check_log_tail(log: Path) -> str | None:
    """What is wrong with the last block of a write-ahead log, or None.

    LevelDB takes anything odd in the last block of a log for a write torn by a
    crash and drops the rest of the log without a word, even with
    paranoid_checks. A crash can only leave a record cut short at the end of the
    file; a header no writer makes (bad type, a length past the block), or a
    zeroed header with data after it, is damage."""
    try:
        size = log.stat().st_size
        if size == 0:
            return None
        start = (size - 1) // _BLOCK * _BLOCK
        with open(log, "rb") as f:
            f.seek(start)
            buf = f.read(_BLOCK)
    except FileNotFoundError:
        return None         # rotated away by the process that holds the database
    except OSError as e:
        return f"{log.name}: cannot read: {e.strerror}"
    pos = 0
    while len(buf) - pos >= 7:
        _crc, length, kind = struct.unpack_from("<IHB", buf, pos)
        if kind == 0 and length == 0:
            if any(buf[pos:]):
                return f"{log.name}: zeroed record at byte {start + pos} with data after it"
            return None
        if kind not in _LOG_TYPES or 7 + length > _BLOCK - pos:
            return f"{log.name}: unreadable record at byte {start + pos}, {size - start - pos} bytes not recovered"
        pos += 7 + length
    return None


class LevelDBStore:
    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.db: Any = None
        self.refs = 0
        self.used = False     # set on every access; `release_if_idle` clears it
        self._gave_up = float("-inf")   # when a wait for the lock last ran out

    # -- opening ---------------------------------------------------------------------
    def _open(self) -> Any:
        if self.db is not None:
            return self.db
        global _Error
        import plyvel
        _Error = plyvel.Error
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            why = "it is a file" if self.path.exists() else e.strerror
            raise StorageError(f"storage path {self.path} is not a folder ({why})",
                               suggestions=["set storage.path (llmspell.toml) to a folder",
                                            f"or move {self.path} out of the way"]) from None
        # One wait per hand-off: after a wait ran out, accesses in the next lock_timeout
        # seconds (the rest of the failed run, its events at exit) try once and fail.
        now = time.monotonic()
        budget = 0.0 if now - self._gave_up < self.lock_timeout else self.lock_timeout
        deadline = now + budget
        delay = 0.01
        while True:
            try:
                self._check_logs()
                try:
                    db = plyvel.DB(str(self.path), create_if_missing=False, paranoid_checks=True)
                except plyvel.Error as e:
                    if "create_if_missing is false" not in _msg(e) or isinstance(e, plyvel.IOError):
                        raise
                    self._refuse_if_data()
                    db = plyvel.DB(str(self.path), create_if_missing=True, paranoid_checks=True)
                self.db = db
                self._gave_up = float("-inf")
                try:
                    (self.path / "OWNER").write_text(str(os.getpid()))
                except OSError:
                    pass
                return self.db
            except plyvel.IOError as e:
                msg = _msg(e)
                if not _is_lock_conflict(msg):
                    raise StorageError(f"cannot open storage at {self.path}: {msg}",
                                       suggestions=["check the folder's permissions and free disk space",
                                                    *repair_hints(self.path)]) from None
                if time.monotonic() >= deadline:
                    self._gave_up = time.monotonic()
                    raise _busy(self.path, self.lock_timeout, again=budget == 0 < self.lock_timeout) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
            except plyvel.Error as e:      # CorruptionError, or a missing file LevelDB needs
                raise damaged(self.path, self._explain(_msg(e))) from None

    def _check_logs(self) -> None:
        for name in data_files(self.path):
            if name.endswith(".log"):
                problem = check_log_tail(self.path / name)
                if problem:
                    raise damaged(self.path, problem)

    def _refuse_if_data(self) -> None:
        """CURRENT is missing: create a database only where there was none."""
        files = data_files(self.path)
        if files and not (self.path / "CURRENT").exists():
            time.sleep(0.05)        # a process creating the database writes CURRENT last
            if (self.path / "CURRENT").exists():
                return
            shown = ", ".join(files[:4]) + (", …" if len(files) > 4 else "")
            raise damaged(self.path, f"{self.path / 'CURRENT'} is missing, but the data files are there "
                                     f"({shown}); nothing was changed")

    def _explain(self, msg: str) -> str:
        """LevelDB's message, plus the files it was reading at open when it names none."""
        if any(w in msg for w in (".log", ".ldb", ".sst", "MANIFEST", "CURRENT")):
            return msg
        files = [n for n in data_files(self.path) if n.endswith(".log")]
        try:
            manifest = (self.path / "CURRENT").read_text(errors="replace").strip()
        except OSError:
            manifest = ""
        files.append(manifest if _DATA_FILE.fullmatch(manifest) else "CURRENT")
        return f"{msg} (while reading {', '.join(files)})"

    # -- access ----------------------------------------------------------------------
    def _failed(self, e: BaseException, what: str) -> StorageError:
        msg = _msg(e)
        if what.startswith(("writing", "deleting")) and "Corruption" not in msg:
            return StorageError(f"cannot write storage at {self.path}: {msg} ({what})",
                                suggestions=["check free disk space and permissions", *repair_hints(self.path)])
        return damaged(self.path, f"{msg} ({what})")

    def get(self, key: bytes) -> bytes | None:
        self.used = True
        db = self.db or self._open()
        try:
            return db.get(key, verify_checksums=True)
        except _Error as e:
            raise self._failed(e, f"reading {describe_key(key)}") from None

    def put(self, key: bytes, value: bytes) -> None:
        self.used = True
        db = self.db or self._open()
        try:
            db.put(key, value)
        except _Error as e:
            raise self._failed(e, f"writing {describe_key(key)}") from None

    def delete(self, key: bytes) -> None:
        self.used = True
        db = self.db or self._open()
        try:
            db.delete(key)
        except _Error as e:
            raise self._failed(e, f"deleting {describe_key(key)}") from None

    def iterate(self, prefix: bytes, *, start: bytes | None = None,
                values: bool = True) -> Iterator[tuple[bytes, bytes | None]]:
        self.used = True
        db = self.db or self._open()
        last: bytes | None = None
        try:
            snap = db.snapshot()
            if start and start > prefix:
                it = snap.iterator(start=start, include_value=values, verify_checksums=True)
                for item in it:
                    k, v = item if values else (item, None)
                    if not k.startswith(prefix):
                        break
                    last = k
                    yield k, v
            else:
                for item in snap.iterator(prefix=prefix, include_value=values, verify_checksums=True):
                    last = item[0] if values else item
                    yield item if values else (item, None)
        except _Error as e:
            raise self._failed(e, "reading " + describe_range(prefix, last or start)) from None

    def write_batch(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        self.used = True
        db = self.db or self._open()
        try:
            with db.write_batch(transaction=True) as wb:
                for k in deletes:
                    wb.delete(k)
                for k, v in puts:
                    wb.put(k, v)
        except _Error as e:
            keys = [k for k, _ in puts] + deletes
            raise self._failed(e, f"writing {len(keys)} keys from {describe_key(min(keys))} "
                                  f"to {describe_key(max(keys))}" if keys else "writing") from None

    # -- hand-off ----------------------------------------------------------------------
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


# -- repair ---------------------------------------------------------------------------------


def repair_leveldb(path: Path, lock_timeout: float = 10.0) -> dict[str, Any]:
    """LevelDB's repair (rebuild the manifest from the table and log files; files it
    cannot use go to `lost/`), then open the result and read every key with checksums.
    Returns counts of what is readable; StorageError when it is still damaged."""
    import fcntl

    import plyvel
    path = path.resolve()
    if str(path) in _HANDLES and _HANDLES[str(path)].db is not None:
        raise StorageError(f"storage at {path} is open in this process; close it before repairing")
    if not path.is_dir():
        raise StorageError(f"no storage to repair at {path}" + (" (not a folder)" if path.exists() else ""),
                           suggestions=["storage.path (llmspell.toml) names the folder"])
    if not data_files(path):
        raise StorageError(f"no LevelDB files to repair in {path}")
    # LevelDB's repair does not lock: hold the database's LOCK (fcntl, as LevelDB does)
    fd = os.open(path / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise _busy(path, lock_timeout) from None
                time.sleep(0.05)
        try:
            plyvel.repair_db(str(path))
        except plyvel.Error as e:
            raise StorageError(f"repair of {path} failed: {_msg(e)}",
                               suggestions=["restore from a copy made with `llmspell state export`"]) from None
    finally:
        os.close(fd)        # (closing drops the fcntl lock)
    return verify_leveldb(path)


def verify_leveldb(path: Path) -> dict[str, Any]:
    """Open read-through with paranoid checks and read every key and value."""
    import plyvel

    from .base import count_keys
    try:
        db = plyvel.DB(str(path), create_if_missing=False, paranoid_checks=True)
    except plyvel.Error as e:
        raise damaged(path, f"still unreadable after repair: {_msg(e)}") from None
    last: bytes | None = None
    try:
        keys = []
        for k, _v in db.iterator(verify_checksums=True, fill_cache=False):
            last = k
            keys.append(k)
    except plyvel.Error as e:
        raise damaged(path, f"still unreadable after repair: {_msg(e)} (reading after "
                            f"{describe_key(last) if last else 'the start'})") from None
    finally:
        db.close()
    report = count_keys(keys)
    lost = path / "lost"
    report["lost"] = sorted(p.name for p in lost.iterdir()) if lost.is_dir() else []
    return report

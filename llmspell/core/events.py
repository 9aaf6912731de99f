"""The event bus: NATS-style patterns, ordered per-subscriber delivery, persistence.

Each subscription owns a queue and one worker task, so a subscriber sees events
in emit order and a slow subscriber never blocks `emit`. Persisted events are
buffered and written in batches (see `flush`) so emitting stays cheap.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..errors import Code, LLMSpellError, StorageError

if TYPE_CHECKING:
    from ..storage.base import Store

log = logging.getLogger("llmspell.events")

Handler = Callable[[dict[str, Any]], Awaitable[Any] | Any]
EVENT_PREFIX = b"__events__/"
_FLUSH_BYTES = 4 << 20        # write buffered events once they hold this much
_orjson: Any = None


def _dumps(ev: dict[str, Any]) -> bytes:
    global _orjson
    if _orjson is None:
        import orjson
        _orjson = orjson
    return _orjson.dumps(ev, default=str, option=_orjson.OPT_NON_STR_KEYS)  # type: ignore[no-any-return]


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """`*` matches one dotted segment, `>` (last only) one or more remaining ones."""
    if not isinstance(pattern, str) or not pattern or any(p == "" for p in pattern.split(".")):
        raise LLMSpellError(Code.EVENT_FILTER_INVALID, f"invalid event pattern {pattern!r}",
                            suggestions=["use dotted names like 'tool.*' or 'report.>'"])
    parts = pattern.split(".")
    if ">" in parts[:-1]:
        raise LLMSpellError(
            Code.EVENT_FILTER_INVALID, f"invalid event pattern {pattern!r}: '>' must be the last segment"
        )
    if "*" not in parts and ">" not in parts:
        return lambda t: t == pattern
    tail = parts[-1] == ">"
    fixed = parts[:-1] if tail else parts
    n = len(fixed)

    def match(t: str) -> bool:
        segs = t.split(".")
        if tail:
            if len(segs) <= n:
                return False
        elif len(segs) != n:
            return False
        for a, b in zip(fixed, segs):
            if a != "*" and a != b:
                return False
        return True
    return match


@dataclass
class Subscription:
    id: str
    pattern: str
    match: Callable[[str], bool]
    handler: Handler
    owner: object = None
    queue: asyncio.Queue[dict[str, Any]] | None = None
    task: asyncio.Task[None] | None = None
    delivered: int = 0


@dataclass
class EventBus:
    store: Store | None = None         # for persistence and replay
    open_store: Callable[[], Store] | None = None   # opens the store on first need
    persist: bool = True
    max_history: int = 10000
    subs: dict[str, Subscription] = field(default_factory=dict)
    max_payload: int = 1_000_000       # bytes of one event, serialized; larger data is refused or left out
    _pending: list[tuple[bytes, bytes]] = field(default_factory=list)    # (key, serialized event)
    _pending_bytes: int = 0
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _idle: asyncio.Event | None = None
    on_handler_error: Callable[[Subscription, BaseException], None] | None = None
    flushed: int = 0

    def subscribe(self, pattern: str, handler: Handler, owner: object = None) -> str:
        sid = f"sub_{next(self._seq)}"
        self.subs[sid] = Subscription(sid, pattern, compile_pattern(pattern), handler, owner)
        return sid

    def unsubscribe(self, sid: str) -> bool:
        sub = self.subs.pop(sid, None)
        if sub and sub.task:
            sub.task.cancel()
        return sub is not None

    def remove_owner(self, owner: object) -> None:
        for sid in [s.id for s in self.subs.values() if s.owner is owner]:
            self.unsubscribe(sid)

    def emit(self, type_: str, data: Any = None, source: str | None = None, *, persist: bool = True,
             checked: bool = False) -> dict[str, Any]:
        """Publish an event. `checked` (a spell's own emit): data over `max_payload`
        is an error; the runtime's own events leave such data out instead."""
        now = time.time_ns()
        ev = {"id": f"{now:020d}-{next(self._seq)}", "type": type_, "data": data,
              "source": source, "timestamp": now / 1e9}
        keep = self.persist and persist
        if keep or checked:
            raw = _dumps(ev)
            if len(raw) > self.max_payload:
                if checked:
                    raise LLMSpellError(Code.EVENT_EMISSION_FAILED,
                                        f"event '{type_}' carries {len(raw) / 1e6:.1f} MB of data; events carry at "
                                        f"most {self.max_payload / 1e6:g} MB ([events] max_payload)",
                                        suggestions=["store the data (Storage.set) and send its key"])
                ev["data"] = {"omitted": f"{len(raw)} bytes, over [events] max_payload"}
                raw = _dumps(ev)
            if keep:
                self._pending.append((EVENT_PREFIX + ev["id"].encode(), raw))
                self._pending_bytes += len(raw)
                if len(self._pending) >= 2000 or self._pending_bytes >= _FLUSH_BYTES:
                    self.flush()
        if self.subs:
            for sub in list(self.subs.values()):
                if sub.match(type_):
                    self._enqueue(sub, ev)
        return ev

    def _enqueue(self, sub: Subscription, ev: dict[str, Any]) -> None:
        if sub.queue is None:
            sub.queue = asyncio.Queue()
        sub.queue.put_nowait(ev)
        if sub.task is None or sub.task.done():
            sub.task = asyncio.get_running_loop().create_task(self._worker(sub))

    async def _worker(self, sub: Subscription) -> None:
        assert sub.queue is not None
        if getattr(sub.handler, "batches", False):
            await self._batch_worker(sub)
            return
        while not sub.queue.empty():
            ev = sub.queue.get_nowait()
            try:
                r = sub.handler(ev)
                if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                    await r
                sub.delivered += 1
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # a failing subscriber must not stop the bus
                self._handler_error(sub, e)
            if sub.delivered % 64 == 0:
                await asyncio.sleep(0)

    async def _batch_worker(self, sub: Subscription) -> None:
        """Deliver queued events in batches (in order) to handlers that take them."""
        assert sub.queue is not None
        while not sub.queue.empty():
            batch = []
            while not sub.queue.empty() and len(batch) < 512:
                batch.append((sub.queue.get_nowait(),))
            try:
                errors = await sub.handler.call_batch(batch)
                sub.delivered += len(batch)
                for err in errors or []:
                    if err:
                        self._handler_error(sub, LLMSpellError.from_dict(err))
            except asyncio.CancelledError:
                raise
            except BaseException as e:
                self._handler_error(sub, e)

    def _handler_error(self, sub: Subscription, e: BaseException) -> None:
        if self.on_handler_error:
            self.on_handler_error(sub, e)
        else:
            log.warning("event handler for %r failed: %s", sub.pattern, e)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every queued event was delivered (end of a run)."""
        async def _wait() -> None:
            while True:
                tasks = [s.task for s in self.subs.values() if s.task and not s.task.done()]
                if not tasks:
                    return
                await asyncio.wait(tasks)
        await asyncio.wait_for(_wait(), timeout)

    def _store(self) -> Any:
        if self.store is None and self.open_store is not None:
            self.store = self.open_store()
        return self.store

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            store = self._store()
        except LLMSpellError as e:
            log.warning("could not persist %d events: %s", len(self._pending), e)
            store = None
        if store is None:
            self._pending.clear()
            self._pending_bytes = 0
            return
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        self.flushed += len(batch)
        try:
            store.write_batch(batch, [])
        except StorageError as e:
            log.warning("could not persist %d events: %s", len(batch), e)

    def replay(self, pattern: str = ">", since: float | None = None, limit: int = 100,
               until: float | None = None) -> list[dict[str, Any]]:
        match = compile_pattern(pattern)
        self.flush()
        out: list[dict[str, Any]] = []
        if self._store() is None:
            return out
        start = EVENT_PREFIX + (f"{int(since * 1e9):020d}".encode() if since else b"")
        for _k, raw in self.store.iterate(EVENT_PREFIX, start=start):
            ev = json.loads(raw)
            if until is not None and ev["timestamp"] > until:
                break
            if match(ev["type"]):
                out.append(ev)
        return out[-limit:] if limit else out

    def trim(self) -> None:
        """Keep at most max_history persisted events (oldest go first)."""
        if self.store is None or not self.max_history:
            return
        keys = [k for k, _ in self.store.iterate(EVENT_PREFIX, values=False)]
        extra = len(keys) - self.max_history
        if extra > 0:
            self.store.write_batch([], keys[:extra])

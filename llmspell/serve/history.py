"""Job run records of the daemon: persisted per job (newest `serve.history` kept),
counted in the metrics, failures logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..storage import KV
    from .metrics import Metrics


class JobHistory:
    def __init__(self, kv: Callable[[], "KV"], keep: int, metrics: "Metrics", log: Callable[[str], None]) -> None:
        self._kv = kv          # opened per use: the daemon lets go of the database while idle
        self.keep = keep
        self.metrics = metrics
        self.log = log
        self._stored: dict[str, int] = {}      # records on disk per job (known after the first trim)
        self._slack = max(10, keep // 10)      # trim in batches, not on every run

    def record(self, job: str, rec: dict[str, Any]) -> None:
        """Persist one run of `job`; the oldest beyond `keep` go, a batch at a time
        (listing a job's history on every run cost a third of a webhook's CPU)."""
        self.metrics.observe(job, rec)
        kv = self._kv()
        kv.set(f"{job}\x1f{rec['started']:017.6f}\x1f{rec['run_id']}", rec)
        n = self._stored.get(job)
        if n is None or n + 1 > self.keep + self._slack:
            keys = kv.list(job + "\x1f")
            extra = keys[: max(0, len(keys) - self.keep)]
            if extra:
                kv.commit({k: None for k in extra})
            n = len(keys) - len(extra)
        else:
            n += 1
        self._stored[job] = n
        if rec["status"] == "failed":
            err = rec.get("error") or {}
            self.log(f"job {job} failed: [{err.get('code')}] {err.get('message')}")

    def refused(self, job: str) -> None:
        """A firing refused because the job's queue was full: counted, not stored."""
        self.metrics.rejected.labels(job).inc()

    def runs(self, job: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` runs of `job`, newest first."""
        if limit < 1:
            return []
        return [v for _, v in self._kv().items(job + "\x1f")][-min(limit, self.keep):][::-1]

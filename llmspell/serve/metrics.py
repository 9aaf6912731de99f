"""Prometheus metrics of the daemon (prometheus-client, own registry)."""

from __future__ import annotations

from typing import Any


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        self.registry = CollectorRegistry()
        self.runs = Counter("llmspell_job_runs", "Job runs by final status", ["job", "status"],
                            registry=self.registry)
        self.failures = Counter("llmspell_job_failures", "Job runs that failed", ["job"], registry=self.registry)
        self.duration = Histogram("llmspell_job_duration_seconds", "Job run duration", ["job"],
                                  registry=self.registry)
        self.tokens = Counter("llmspell_job_tokens", "Model tokens used by job runs", ["job"],
                              registry=self.registry)
        self.cost = Counter("llmspell_job_cost_dollars", "Model cost of job runs", ["job"], registry=self.registry)
        self.rejected = Counter("llmspell_job_rejected", "Firings refused because the job's queue was full",
                                ["job"], registry=self.registry)
        self.up = Gauge("llmspell_up", "1 while the daemon runs", registry=self.registry)
        self.up.set(1)

    def observe(self, job: str, rec: dict[str, Any]) -> None:
        self.runs.labels(job, rec["status"]).inc()
        if rec["status"] == "failed":
            self.failures.labels(job).inc()
        if rec.get("duration_ms") is not None:
            self.duration.labels(job).observe(rec["duration_ms"] / 1000)
        usage = rec.get("usage") or {}
        if usage.get("tokens"):
            self.tokens.labels(job).inc(usage["tokens"])
        if usage.get("cost"):
            self.cost.labels(job).inc(usage["cost"])

    def render(self) -> bytes:
        from prometheus_client import generate_latest
        return generate_latest(self.registry)

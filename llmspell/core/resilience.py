"""Retries with backoff, rate limits and circuit breakers for model calls."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins when given."""
    if retry_after is not None and retry_after >= 0:
        return min(cap, retry_after)
    return min(cap, base * (2 ** attempt)) * (0.5 + random.random() / 2)


@dataclass
class RateLimiter:
    """Requests/min and tokens/min over a sliding 60 s window; `acquire` waits for room."""
    rpm: float | None = None
    tpm: float | None = None
    window: float = 60.0
    _reqs: deque[float] = field(default_factory=deque)
    _toks: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: asyncio.Lock | None = None

    async def acquire(self, tokens: int = 0) -> None:
        if not self.rpm and not self.tpm:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._reqs and now - self._reqs[0] >= self.window:
                    self._reqs.popleft()
                while self._toks and now - self._toks[0][0] >= self.window:
                    self._toks.popleft()
                waits = []
                if self.rpm and len(self._reqs) >= self.rpm:
                    waits.append(self.window - (now - self._reqs[0]))
                used = sum(t for _, t in self._toks)
                if self.tpm and self._toks and used + tokens > self.tpm:
                    waits.append(self.window - (now - self._toks[0][0]))
                if not waits:
                    self._reqs.append(now)
                    if tokens:
                        self._toks.append((now, tokens))
                    return
                await asyncio.sleep(max(0.001, min(waits)))


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial call through
    after `reset_after` seconds and closes again when it succeeds."""
    name: str
    threshold: int = 5
    reset_after: float = 30.0
    on_change: Callable[[str, str], Any] | None = None
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0

    def allow(self) -> bool:
        if self.state == "open":
            if time.monotonic() - self.opened_at >= self.reset_after:
                self.state = "half_open"
                return True
            return False
        return True

    def success(self) -> None:
        was = self.state
        self.failures = 0
        self.state = "closed"
        if was != "closed" and self.on_change:
            self.on_change(self.name, "closed")

    def failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            was = self.state
            self.state = "open"
            self.opened_at = time.monotonic()
            if was != "open" and self.on_change:
                self.on_change(self.name, "opened")


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, prompt: int, completion: int, cost: float) -> None:
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost += cost

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens, "cost": round(self.cost, 8)}


class ProviderGuards:
    """The circuit breakers and rate limiters every agent of a runtime shares: one
    breaker and one limiter per provider, one limiter per rate-limited agent.

    `settings_of(provider)` gives a provider's config table (circuit_threshold,
    circuit_reset, rpm, tpm); `on_circuit(provider, "opened"|"closed")` reports
    breaker changes (the runtime turns them into events).
    """

    def __init__(self, settings_of: Callable[[str], dict[str, Any]],
                 on_circuit: Callable[[str, str], Any] | None = None) -> None:
        self._settings_of = settings_of
        self._on_circuit = on_circuit
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, RateLimiter] = {}

    def breaker(self, provider: str) -> CircuitBreaker:
        b = self._breakers.get(provider)
        if b is None:
            s = self._settings_of(provider)
            b = self._breakers[provider] = CircuitBreaker(
                provider, int(s.get("circuit_threshold", 5)), float(s.get("circuit_reset", 30.0)), self._on_circuit)
        return b

    def limiter(self, provider: str) -> RateLimiter:
        lim = self._limiters.get(provider)
        if lim is None:
            s = self._settings_of(provider)
            lim = self._limiters[provider] = RateLimiter(s.get("rpm"), s.get("tpm"))
        return lim

    def agent_limiter(self, agent: str, rpm: float | None, tpm: float | None) -> RateLimiter:
        key = "agent:" + agent
        lim = self._limiters.get(key)
        if lim is None:
            lim = self._limiters[key] = RateLimiter(rpm, tpm)
        return lim

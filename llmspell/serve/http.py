"""The daemon's HTTP side (aiohttp): health, metrics, jobs, webhooks.

It knows the daemon only through `DaemonControl`, the operations it serves;
the daemon implements them. Routes map to those operations one to one.

A bad request gets a 4xx with a JSON message (a malformed request line or
header: aiohttp's plain 400) and one line in the log, never a traceback. Work
a job cannot take answers 409 (skipped: a run is going and overlap = "skip") or
429 with Retry-After (its queue is full); only accepted work answers 202.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import socket
from typing import Any, Callable, Protocol

from ..errors import Code, ConfigError, LLMSpellError


class DaemonControl(Protocol):
    """What the HTTP layer may ask of the daemon."""
    stopping: bool

    def health(self) -> dict[str, Any]: ...
    def metrics_text(self) -> bytes: ...
    def list_jobs(self) -> list[dict[str, Any]]: ...
    def job_runs(self, name: str, limit: int) -> list[dict[str, Any]] | None:
        """None when there is no such job (and never was)."""
        ...
    def trigger(self, name: str, payload: Any) -> dict[str, Any] | None:
        """Fire a job by hand; None when there is no such job. The result's `status`
        is started, queued, skipped or rejected (then with `retry_after`)."""
        ...
    def webhook(self, path: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Fire the job listening at `path`; None when none does (result as `trigger`)."""
        ...
    def reloads(self) -> list[dict[str, Any]]: ...


def bind(host: str, port: int) -> list[socket.socket]:
    """Bind host:port (every address the host name has; port 0 picks a free one)
    before anything else starts, so a port in use or a bad host is reported at
    once — before the spells' top-level code runs. Errors are one readable line."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(
            f"serve: cannot listen on {host!r}: not a host name or address of this machine "
            f"({getattr(e, 'strerror', None) or e})",
            suggestions=["set [serve] host (or --host) to an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"],
        ) from None
    socks: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr[0]) in seen:
                continue
            seen.add((family, addr[0]))
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if socks[0] is not s:       # port 0: every address gets the port the first one got
                addr = (addr[0], socks[0].getsockname()[1], *addr[2:])
            s.bind(addr)
            s.setblocking(False)
    except OSError as e:
        for s in socks:
            s.close()
        if e.errno == errno.EADDRINUSE:
            raise LLMSpellError(
                Code.SYSTEM_SERVICE_UNAVAILABLE, f"serve: port {port} on {host} is already in use",
                suggestions=[("stop what listens there (another `llmspell serve`?), or pick another port: "
                              "--port / [serve] port (0 picks a free one)")],
            ) from None
        if e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            raise ConfigError(
                f"serve: cannot listen on {host!r}: not an address of this machine",
                suggestions=["set [serve] host (or --host) to an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"],
            ) from None
        if e.errno == errno.EACCES:
            raise LLMSpellError(
                Code.SYSTEM_AUTHORIZATION_FAILED, f"serve: no permission to listen on {where}",
                suggestions=["ports below 1024 need privileges: pick a port of 1024 or more"],
            ) from None
        raise LLMSpellError(Code.SYSTEM_SERVICE_UNAVAILABLE,
                            f"serve: cannot listen on {where}: {e.strerror or e}") from None
    return socks


def _brief(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return (text[:160] + "…") if len(text) > 160 else text


class _OneLine(logging.Handler):
    """aiohttp's server log, as one line per failed request and no traceback:
    a malformed request is the sender's business, not a daemon failure."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        msg = record.getMessage().replace("Error handling request from", "bad request from")
        self._log(f"http: {msg}" + (f": {_brief(exc)}" if exc is not None else ""))


def _server_logger(log: Callable[[str], None]) -> logging.Logger:
    logger = logging.Logger("llmspell.serve.http", logging.INFO)    # not registered: one per daemon
    logger.addHandler(_OneLine(log))
    return logger


def _limit(raw: str | None, default: int = 50) -> int:
    if raw is None or raw == "":
        return default
    digits = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit()) or not digits:
        raise ValueError(f"limit must be a whole number of 1 or more, not {raw[:40]!r}")
    return min(int(digits) if len(digits) <= 7 else 1_000_000, 1_000_000)


async def start_http(d: DaemonControl, socks: list[socket.socket], token: str | None,
                     log: Callable[[str], None]) -> tuple[Any, int]:
    """Serve `d` on the sockets `bind` made; returns (runner to clean up, the port)."""
    from aiohttp import web

    def error(http_status: int, message: str, **extra: Any) -> web.Response:
        return web.json_response({"error": message, **extra}, status=http_status)

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if token and request.path != "/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except web.HTTPException:
            raise                       # 404/405/413…: aiohttp answers them
        except LLMSpellError as e:
            return web.json_response({"error": e.to_dict()}, status=400)
        except Exception as e:          # a daemon bug: a 500 and one log line, the daemon keeps serving
            log(f"http: {request.method} {request.path} failed: {type(e).__name__}: {_brief(e)}")
            return error(500, "internal error (see the daemon's log)")

    def not_found(what: str) -> web.Response:
        return error(404, what)

    def stopping() -> web.Response:
        return error(503, "shutting down")

    def fired(res: dict[str, Any] | None, missing: str) -> web.Response:
        if res is None:
            return not_found(missing)
        status = res.get("status")
        if status == "skipped":
            return error(409, f"job {res['job']!r} did not run: {res.get('reason')}", **res)
        if status == "rejected":
            wait = int(res.get("retry_after") or 1)
            return web.json_response(
                {"error": f"job {res['job']!r} is busy: {res.get('reason')}; retry in {wait}s", **res},
                status=429, headers={"Retry-After": str(wait)})
        return web.json_response(res, status=202)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({**d.health(), "pid": os.getpid()})

    async def metrics(request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST
        return web.Response(body=d.metrics_text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def jobs(request: web.Request) -> web.Response:
        return web.json_response(d.list_jobs())

    async def history(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            limit = _limit(request.query.get("limit"))
        except ValueError as e:
            return error(400, str(e))
        runs = d.job_runs(name, limit)
        return not_found(f"no job named {name!r}") if runs is None else web.json_response(runs)

    async def trigger(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if d.stopping:
            return stopping()
        return fired(d.trigger(name, await _payload(request)), f"no job named {name!r}")

    async def reloads(request: web.Request) -> web.Response:
        return web.json_response(d.reloads())

    async def webhook(request: web.Request) -> web.Response:
        if d.stopping:
            return stopping()
        data = {"trigger": "webhook", "path": request.path, "method": request.method,
                "body": await _payload(request), "headers": dict(request.headers), "query": dict(request.query)}
        return fired(d.webhook(request.path, data), f"no webhook at {request.path}")

    app = web.Application(middlewares=[guard])
    app.add_routes([web.get("/health", health), web.get("/metrics", metrics), web.get("/jobs", jobs),
                    web.get("/jobs/{name}/history", history), web.post("/jobs/{name}/trigger", trigger),
                    web.get("/reloads", reloads)])
    app.router.add_route("POST", "/{tail:.*}", webhook)
    runner = web.AppRunner(app, access_log=None, logger=_server_logger(log))
    await runner.setup()
    for s in socks:
        await web.SockSite(runner, s, shutdown_timeout=1.0).start()
    return runner, socks[0].getsockname()[1]


async def _payload(request: Any) -> Any:
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text

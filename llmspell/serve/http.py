"""The daemon's HTTP side (aiohttp): health, metrics, jobs, webhooks.

It knows the daemon only through `DaemonControl`, the operations it serves;
the daemon implements them. Routes map to those operations one to one.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any, Protocol

from ..errors import LLMSpellError


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
        """Fire a job by hand; None when there is no such job."""
        ...
    def webhook(self, path: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Fire the job listening at `path`; None when none does."""
        ...
    def reloads(self) -> list[dict[str, Any]]: ...


async def start_http(d: DaemonControl, host: str, port: int, token: str | None) -> tuple[Any, int]:
    """Serve `d` on host:port (0 picks a free port); returns (runner to clean up, the port)."""
    from aiohttp import web

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if token and request.path != "/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            return await handler(request)
        except LLMSpellError as e:
            return web.json_response({"error": e.to_dict()}, status=400)

    def not_found(what: str) -> web.Response:
        return web.json_response({"error": what}, status=404)

    def stopping() -> web.Response:
        return web.json_response({"error": "shutting down"}, status=503)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({**d.health(), "pid": os.getpid()})

    async def metrics(request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST
        return web.Response(body=d.metrics_text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def jobs(request: web.Request) -> web.Response:
        return web.json_response(d.list_jobs())

    async def history(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        runs = d.job_runs(name, int(request.query.get("limit", "50")))
        return not_found(f"no job named {name!r}") if runs is None else web.json_response(runs)

    async def trigger(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if d.stopping:
            return stopping()
        res = d.trigger(name, await _payload(request))
        return not_found(f"no job named {name!r}") if res is None else web.json_response(res, status=202)

    async def reloads(request: web.Request) -> web.Response:
        return web.json_response(d.reloads())

    async def webhook(request: web.Request) -> web.Response:
        if d.stopping:
            return stopping()
        data = {"trigger": "webhook", "path": request.path, "method": request.method,
                "body": await _payload(request), "headers": dict(request.headers), "query": dict(request.query)}
        res = d.webhook(request.path, data)
        return not_found(f"no webhook at {request.path}") if res is None else web.json_response(res, status=202)

    app = web.Application(middlewares=[auth])
    app.add_routes([web.get("/health", health), web.get("/metrics", metrics), web.get("/jobs", jobs),
                    web.get("/jobs/{name}/history", history), web.post("/jobs/{name}/trigger", trigger),
                    web.get("/reloads", reloads)])
    app.router.add_route("POST", "/{tail:.*}", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=1.0)
    await site.start()
    server = site._server
    if server is not None and server.sockets:
        port = server.sockets[0].getsockname()[1]
    return runner, port


async def _payload(request: Any) -> Any:
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text

"""The daemon's HTTP side (aiohttp): health, metrics, jobs, webhooks."""

from __future__ import annotations

import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from ..errors import LLMSpellError

if TYPE_CHECKING:
    from .daemon import Daemon


async def start_http(d: "Daemon") -> Any:
    from aiohttp import web

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        token = d.cfg.token
        if token and request.path != "/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            return await handler(request)
        except LLMSpellError as e:
            return web.json_response({"error": e.to_dict()}, status=400)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "spells": len(d.spells), "jobs": len(d.jobs),
                                  "uptime": round(time.time() - d.started, 3), "pid": __import__("os").getpid()})

    async def metrics(request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST
        return web.Response(body=d.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def jobs(request: web.Request) -> web.Response:
        return web.json_response([j.info() for j in sorted(d.jobs.values(), key=lambda j: j.name)])

    async def history(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in d.jobs and not d.history(name, 1):
            return web.json_response({"error": f"no job named {name!r}"}, status=404)
        return web.json_response(d.history(name, int(request.query.get("limit", "50"))))

    async def trigger(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        job = d.jobs.get(name)
        if job is None:
            return web.json_response({"error": f"no job named {name!r}"}, status=404)
        if d.stopping:
            return web.json_response({"error": "shutting down"}, status=503)
        payload = await _payload(request)
        rid = d.runner.fire(job, {"trigger": "manual", "body": payload}, "manual")
        return web.json_response({"job": name, "run_id": rid, "status": "started" if rid else "skipped"},
                                 status=202)

    async def reloads(request: web.Request) -> web.Response:
        return web.json_response(d.reloads[-50:])

    async def webhook(request: web.Request) -> web.Response:
        job = d.webhooks.get(request.path)
        if job is None:
            return web.json_response({"error": f"no webhook at {request.path}"}, status=404)
        if d.stopping:
            return web.json_response({"error": "shutting down"}, status=503)
        data = {"trigger": "webhook", "path": request.path, "method": request.method,
                "body": await _payload(request), "headers": dict(request.headers), "query": dict(request.query)}
        rid = d.runner.fire(job, data, "webhook")
        return web.json_response({"job": job.name, "run_id": rid, "status": "started" if rid else "skipped"},
                                 status=202)

    app = web.Application(middlewares=[auth])
    app.add_routes([web.get("/health", health), web.get("/metrics", metrics), web.get("/jobs", jobs),
                    web.get("/jobs/{name}/history", history), web.post("/jobs/{name}/trigger", trigger),
                    web.get("/reloads", reloads)])
    app.router.add_route("POST", "/{tail:.*}", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, d.cfg.host, d.cfg.port, shutdown_timeout=1.0)
    await site.start()
    server = site._server
    if server is not None and server.sockets:
        d.port = server.sockets[0].getsockname()[1]
    return runner


async def _payload(request: Any) -> Any:
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text

"""http_client: async HTTP through httpx, every hop checked against allowed_domains."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urljoin

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .security import check_url


@builtin(
    "http_client",
    "web",
    "HTTP request (GET/POST/…) to a domain in security.allowed_domains",
    {
        "properties": {
            "url": {"type": "string"},
            "method": {
                "enum": [
                    "GET",
                    "POST",
                    "PUT",
                    "PATCH",
                    "DELETE",
                    "HEAD",
                    "OPTIONS",
                    "get",
                    "post",
                    "put",
                    "patch",
                    "delete",
                    "head",
                    "options",
                ],
                "default": "GET",
            },
            "headers": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            "params": {"type": "object", "description": "query string parameters"},
            "body": {"description": "request body: a string is sent as is, a table as JSON"},
            "json": {"description": "a value sent as JSON"},
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "seconds (values over 1000 are taken as ms)",
            },
            "retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0},
            "follow_redirects": {"type": "boolean", "default": True},
            "max_redirects": {"type": "integer", "minimum": 0, "default": 5},
            "max_bytes": {"type": "integer", "minimum": 1, "default": 10_000_000},
        },
        "required": ["url"],
    },
)
async def http_client(inp: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    import httpx
    url = check_url(ctx, inp["url"], "http_client")
    method = inp.get("method", "GET").upper()
    timeout = inp.get("timeout")
    if timeout is not None and timeout > 1000:
        timeout = timeout / 1000
    kw: dict[str, Any] = {"headers": {k: str(v) for k, v in (inp.get("headers") or {}).items()},
                          "params": inp.get("params") or None}
    if timeout is not None:
        kw["timeout"] = timeout
    body = inp.get("json", inp.get("body"))
    if isinstance(body, (dict, list)) or ("json" in inp):
        kw["json"] = body
    elif body is not None:
        kw["content"] = str(body).encode()
    retries = inp.get("retries", 0)
    t0 = time.perf_counter()
    attempt = 0
    while True:
        try:
            resp = await _send(ctx, method, url, kw, inp)
            if resp.status_code >= 500 and attempt < retries:
                raise httpx.HTTPStatusError("server error", request=resp.request, response=resp)
            break
        except (httpx.TransportError, httpx.HTTPStatusError) as e:
            if attempt >= retries:
                if isinstance(e, httpx.TimeoutException):
                    raise LLMSpellError(Code.TOOL_TIMEOUT, f"http_client: {method} {url} timed out") from None
                if isinstance(e, httpx.HTTPStatusError):
                    resp = e.response
                    break
                raise LLMSpellError(
                    Code.SYSTEM_NETWORK_FAILURE,
                    f"http_client: {method} {url} failed: {e or type(e).__name__}",
                    recoverable=True,
                ) from None
            attempt += 1
            await asyncio.sleep(min(5.0, 0.2 * 2 ** (attempt - 1)))
    data = resp.content[: inp.get("max_bytes", 10_000_000)]
    text = data.decode(resp.encoding or "utf-8", "replace")
    out: dict[str, Any] = {"status": resp.status_code, "ok": resp.is_success, "url": str(resp.url),
                           "headers": dict(resp.headers), "body": text,
                           "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
    if "json" in resp.headers.get("content-type", ""):
        try:
            out["json"] = json.loads(text)
        except ValueError:
            pass
    return out


async def _send(ctx: ToolContext, method: str, url: str, kw: dict[str, Any], inp: dict[str, Any]) -> Any:
    client = ctx.http
    hops = inp.get("max_redirects", 5) if inp.get("follow_redirects", True) else 0
    for _ in range(hops + 1):
        resp = await client.request(method, url, **kw)
        if not resp.is_redirect or hops == 0:
            return resp
        url = check_url(ctx, urljoin(url, resp.headers["location"]), "http_client")
        if resp.status_code in (301, 302, 303) and method != "HEAD":
            method, kw = "GET", {k: v for k, v in kw.items() if k not in ("json", "content")}
    raise LLMSpellError(Code.SYSTEM_NETWORK_FAILURE, f"http_client: more than {hops} redirects")

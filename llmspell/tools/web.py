"""http_client: async HTTP through httpx, every hop checked against allowed_domains.

Unless `security.allow_private_network` is set, each call gets its own client
whose connections are opened by a `PublicOnly` network backend: it resolves the host once, refuses
the connection when any address is not public, and connects to the address it
checked (so a DNS answer that changes between check and connect changes nothing).
That client connects directly: HTTP(S)_PROXY is not used (a proxy would resolve
the name itself). Credentials (Authorization, Cookie, Proxy-Authorization) are
dropped once a redirect leaves the origin of the first request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .security import check_url, resolve_public

_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_SSL: Any = None


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
            resp, data, cut = await _send(ctx, method, url, kw, inp)
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
    text = data.decode(resp.encoding or "utf-8", "replace")
    out: dict[str, Any] = {"status": resp.status_code, "ok": resp.is_success, "url": str(resp.url),
                           "headers": dict(resp.headers), "body": text,
                           "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
    if cut:
        out["truncated"] = True        # the body went on past max_bytes; the rest was not read
    if "json" in resp.headers.get("content-type", ""):
        try:
            out["json"] = json.loads(text)
        except ValueError:
            pass
    return out


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    scheme = p.scheme.lower()
    return scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(scheme)


async def _send(ctx: ToolContext, method: str, url: str, kw: dict[str, Any],
                inp: dict[str, Any]) -> tuple[Any, bytes, bool]:
    """The final response, its body up to max_bytes, and whether the body was cut."""
    limit = inp.get("max_bytes", 10_000_000)
    if ctx.security.allow_private_network:
        return await _read(await _follow(ctx, ctx.http, method, url, kw, inp), limit)
    async with _public_client(ctx) as client:
        return await _read(await _follow(ctx, client, method, url, kw, inp), limit)


async def _read(resp: Any, limit: int) -> tuple[Any, bytes, bool]:
    """Read a streamed body up to `limit` bytes (after decompression) and stop: a
    huge or endless body never lands in memory whole."""
    chunks: list[bytes] = []
    n, cut = 0, False
    try:
        async for chunk in resp.aiter_bytes():
            if n + len(chunk) >= limit:
                chunks.append(chunk[: limit - n])
                n, cut = limit, n + len(chunk) > limit
                if cut:
                    break
                continue
            chunks.append(chunk)
            n += len(chunk)
    finally:
        await resp.aclose()
    return resp, b"".join(chunks), cut


async def _follow(ctx: ToolContext, client: Any, method: str, url: str, kw: dict[str, Any],
                  inp: dict[str, Any]) -> Any:
    hops = inp.get("max_redirects", 5) if inp.get("follow_redirects", True) else 0
    first = _origin(url)
    for _ in range(hops + 1):
        resp = await client.send(client.build_request(method, url, **kw), stream=True)
        if not resp.is_redirect or hops == 0:
            return resp
        await resp.aclose()
        url = check_url(ctx, urljoin(url, resp.headers["location"]), "http_client")
        kw = {k: v for k, v in kw.items() if k != "params"}        # the Location is the whole URL
        if _origin(url) != first:
            kw["headers"] = {k: v for k, v in kw["headers"].items() if k.lower() not in _CREDENTIALS}
        if resp.status_code in (301, 302, 303) and method != "HEAD":
            method, kw = "GET", {k: v for k, v in kw.items() if k not in ("json", "content")}
    raise LLMSpellError(Code.SYSTEM_NETWORK_FAILURE, f"http_client: more than {hops} redirects")


def _public_client(ctx: ToolContext) -> Any:
    """An httpx client for one call whose every connection goes through `PublicOnly`."""
    import httpcore
    import httpx
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()             # loading the CA bundle is the slow part: once
    transport = httpx.AsyncHTTPTransport(verify=_SSL)
    # httpx takes no network backend; its transport's pool is replaced by one that has ours
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("http_client: this httpx version cannot check addresses (no transport pool)")
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=_SSL, network_backend=_public_backend())
    return httpx.AsyncClient(transport=transport, timeout=ctx.config.settings.tools.http_timeout,
                             follow_redirects=False)


def _backend_class() -> Any:
    import httpcore

    class PublicOnly(httpcore.AsyncNetworkBackend):
        """Opens TCP connections only to public addresses: resolves the host once,
        refuses if any of its addresses is not public, connects to a checked address."""

        def __init__(self) -> None:
            self.inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None, socket_options: Any = None) -> Any:
            import socket
            try:
                ips = await asyncio.wait_for(resolve_public(host, port, "http_client"), timeout)
            except socket.gaierror as e:
                raise httpcore.ConnectError(f"cannot resolve '{host}': {e.strerror or e}") from None
            except asyncio.TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving '{host}' timed out") from None
            err: Exception | None = None
            for ip in ips:
                try:
                    return await self.inner.connect_tcp(ip, port, timeout, local_address, socket_options)
                except httpcore.ConnectError as e:
                    err = e
            raise err or httpcore.ConnectError(f"'{host}' has no address")

        async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                      socket_options: Any = None) -> Any:
            raise httpcore.ConnectError("http_client: unix sockets are not reachable")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    return PublicOnly


def _public_backend() -> Any:
    """A `PublicOnly` network backend (the class is made on first use: httpcore loads lazily)."""
    global _PUBLIC_ONLY
    if _PUBLIC_ONLY is None:
        _PUBLIC_ONLY = _backend_class()
    return _PUBLIC_ONLY()


_PUBLIC_ONLY: Any = None

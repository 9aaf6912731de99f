"""The checks file and network tools share.

Paths: every path a tool touches — the one it was given and every entry a walk
reaches — is resolved to its real path (symlinks and '..' followed) and must lie
inside `security.allowed_paths` and outside `security.denied_paths` plus the
files llmspell itself trusts (its config files, storage folder, serve.json, user
config and cache folders, its own code and Python environment).

Network: URLs must be http(s) to a domain in `security.allowed_domains`; unless
`security.allow_private_network` is set, every address a host name resolves to
must be public (no loopback, private, link-local/metadata, multicast or reserved
address, also when written as a number or hidden in an IPv6 form). http_client
checks this when it connects, on the address it then connects to, on every
redirect hop (see tools/web.py).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import socket
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from ..paths import builtins_dir

# ---- paths


def allowed_roots(ctx: ToolContext) -> list[str]:
    return [os.path.realpath(ctx.config.resolve(p)) for p in ctx.security.allowed_paths]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _glob_rx(pattern: str) -> str:
    """A glob as a regex over '/'-separated paths: `*` and `?` stay within one
    name, `**/` spans any number of folders, `**` anything."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


_LABELS = ("defaults", "embedded", "environment", "flags")     # config.sources that are no files


def _trusted_paths(ctx: ToolContext) -> tuple[list[Path], list[Path]]:
    """What the runtime itself trusts, whatever security.denied_paths says: its own
    files, and the folders that hold them."""
    cfg = ctx.config
    env = os.environ
    data = cfg.data_dir
    files = [Path(s) for s in cfg.sources if s not in _LABELS]        # the config files loaded
    files += [data, data.parent / "serve.json"]                        # storage, the daemon's address + token
    folders = [data.parent,
               Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "llmspell",
               Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmspell",
               *map(Path, _code_paths())]
    return files, folders


@lru_cache(maxsize=1)
def _code_paths() -> tuple[str, ...]:
    """llmspell's code and the Python environment: the preludes run with host access, a
    .pth file or module written to site-packages runs at the next start."""
    import site
    import sysconfig
    out = [str(Path(__file__).resolve().parent.parent)]
    try:
        out.append(str(builtins_dir()))
    except RuntimeError:
        pass
    out += [p for k, p in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib")]
    out += [*site.getsitepackages(), site.getusersitepackages()]
    if sys.prefix != sys.base_prefix:
        out.append(sys.prefix)                                          # a virtual environment, whole
    return tuple(p for p in out if p)


class PathPolicy:
    """allowed_paths and denied_paths of one tool call, resolved once (a walk checks
    every entry against the same policy)."""

    def __init__(self, ctx: ToolContext) -> None:
        self.allowed = allowed_roots(ctx)
        root = os.path.realpath(ctx.config.root)
        self.denied: list[str] = []
        rx: list[str] = []
        for entry in ctx.security.denied_paths:
            if not isinstance(entry, str) or not entry:
                continue
            if not any(c in entry for c in "*?"):
                p = str(ctx.config.resolve(entry))
                self.denied += [os.path.abspath(p), os.path.realpath(p)]
            elif entry.startswith("**"):
                rx.append(_glob_rx(entry))                              # anywhere
            else:
                p = Path(os.path.expanduser(entry))
                if p.is_absolute():
                    rx.append(_glob_rx(str(p)))
                else:
                    rx.append(re.escape(root.rstrip("/")) + "/" + _glob_rx(entry))
                    if os.path.abspath(ctx.config.root) != root:
                        rx.append(re.escape(os.path.abspath(ctx.config.root).rstrip("/")) + "/" + _glob_rx(entry))
        files, folders = _trusted_paths(ctx)
        homes = [root, os.path.abspath(ctx.config.root)]
        for p, whole in [(f, False) for f in files] + [(f, True) for f in folders]:
            for form in {os.path.abspath(p), os.path.realpath(p)}:
                # never what holds the project (that would deny everything), nor a folder
                # holding an allowed path (storage at /srv/db must not deny /srv/shared)
                if not any(_inside(h, form) for h in homes + (self.allowed if whole else [])):
                    self.denied.append(form)
        self.rx = re.compile("(?:" + "|".join(rx) + r")(?:/.*)?\Z", re.S) if rx else None

    def refusal(self, real: str, lexical: str | None = None) -> str | None:
        """Why a tool may not touch `real` (its real path; `lexical`: the path as
        written, made absolute), or None."""
        if not any(_inside(real, root) for root in self.allowed):
            return "outside security.allowed_paths"
        for p in (real, lexical) if lexical and lexical != real else (real,):
            if any(_inside(p, d) for d in self.denied) or (self.rx is not None and self.rx.match(p)):
                return ("one of llmspell's own files (config, state, code), which tools never "
                        "read or write (security.denied_paths)")
        return None

    def permits(self, p: Path) -> bool:
        """A walk's entry: whether its real path (symlinks followed) may be touched."""
        return self.refusal(os.path.realpath(p), os.path.abspath(p)) is None


def check_path(ctx: ToolContext, path: Any, tool: str, *, must_exist: bool = False,
               policy: PathPolicy | None = None) -> Path:
    """Resolve `path` (relative to the working directory) and refuse anything whose
    real path lands outside security.allowed_paths or inside security.denied_paths
    (or llmspell's own files) — '..' and symlinks included. Returns the real path."""
    if not isinstance(path, str) or not path:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'path' must be a non-empty string")
    if "\x00" in path:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'path' contains a NUL byte")
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = ctx.cwd / p
    real = os.path.realpath(p)
    why = (policy or PathPolicy(ctx)).refusal(real, os.path.abspath(p))
    if why is not None:
        hint = ("add its folder to security.allowed_paths in llmspell.toml" if why.startswith("outside")
                else "keep the spell's files elsewhere inside security.allowed_paths")
        raise LLMSpellError(Code.TOOL_PERMISSION_DENIED, f"{tool}: path '{path}' is {why}", suggestions=[hint])
    rp = Path(real)
    if must_exist and not rp.exists():
        raise LLMSpellError(Code.TOOL_RESOURCE_UNAVAILABLE, f"{tool}: no such file or directory: '{path}'")
    return rp


# ---- network

_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPAT = ipaddress.ip_network("::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries to the same host (mapped, 6to4, NAT64, …)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _IPV4_COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: str) -> str | None:
    """Why a tool may not connect to this address (one of its kinds), or None when public."""
    try:
        addr: Any = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_v4(addr)
        if inner is not None:
            return address_refusal(str(inner))
    if addr in _METADATA:
        return "a cloud metadata address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_private:
        return "a private address"
    if not addr.is_global:
        return "not a public address"
    return None


def _literal_ip(host: str) -> str | None:
    """The address `host` names without DNS (127.1, 0x7f000001, 2130706433, ::1 …), else None."""
    try:
        info = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return str(info[0][4][0]) if info else None


def _refused(tool: str, host: str, ip: str, why: str) -> LLMSpellError:
    shown = host if host == ip else f"'{host}' (resolves to {ip})"
    return LLMSpellError(
        Code.TOOL_PERMISSION_DENIED,
        f"{tool}: {shown} is {why}; loopback, private, link-local and metadata addresses are refused "
        "(security.allow_private_network)",
        suggestions=["set security.allow_private_network = true in llmspell.toml to reach local services"])


def check_url(ctx: ToolContext, url: Any, tool: str) -> str:
    """An http(s) URL to a domain in security.allowed_domains; a literal address must be
    public unless security.allow_private_network (host names are checked when
    connecting: `resolve_public`)."""
    if not isinstance(url, str):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: 'url' must be a string")
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: '{url}' has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{tool}: '{url}' is not an http(s) URL")
    host = parts.hostname.lower()
    if not any(fnmatch.fnmatchcase(host, pat.lower()) for pat in ctx.security.allowed_domains):
        raise LLMSpellError(Code.TOOL_PERMISSION_DENIED, f"{tool}: domain '{host}' is not in security.allowed_domains",
                            suggestions=["add it to security.allowed_domains in llmspell.toml"])
    if not ctx.security.allow_private_network:
        ip = _literal_ip(host)
        if ip is not None:
            why = address_refusal(ip)
            if why is not None:
                raise _refused(tool, host, ip, why)
    return url


async def resolve_public(host: str, port: int, tool: str) -> list[str]:
    """Every address `host` resolves to, all of them public, or LLMSpellError (2006).
    The caller connects to one of these addresses — never resolves the name again
    (a second lookup could answer differently: DNS rebinding)."""
    import asyncio
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    ips: list[str] = []
    for info in infos:
        ip = str(info[4][0])
        if ip not in ips:
            ips.append(ip)
    for ip in ips:
        why = address_refusal(ip)
        if why is not None:
            raise _refused(tool, host, ip, why)
    return ips

"""File system tools; every path goes through security.check_path, and every entry a
walk reaches is re-checked on its real path (a symlink inside an allowed folder that
points outside it, or at llmspell's own files, is skipped, never followed or read)."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import stat
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from ..units import parse_size
from . import builtin
from .bounds import Budget
from .security import PathPolicy, check_path

_SIZE = {"type": ["integer", "string"], "description": "bytes, or a size like '10MB'"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _limit(ctx: ToolContext, inp: dict[str, Any]) -> int:
    try:
        return (
            parse_size(inp["max_size"])
            if inp.get("max_size") is not None
            else ctx.config.settings.tools.max_file_size
        )
    except ValueError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"max_size: {e}") from None


@builtin("file_reader", "filesystem", "Read a text or binary file (inside security.allowed_paths)", {
    "properties": {
        "path": {"type": "string"},
        "encoding": {"type": "string", "default": "utf-8", "description": "a text encoding, or 'base64' for binary"},
        "max_size": _SIZE,
        "start_line": {"type": "integer", "minimum": 1},
        "end_line": {"type": "integer", "minimum": 1},
    },
    "required": ["path"],
})
def file_reader(inp: dict[str, Any], ctx: ToolContext) -> str:
    p = check_path(ctx, inp["path"], "file_reader", must_exist=True)
    if not p.is_file():
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"file_reader: '{inp['path']}' is not a file")
    size, limit = p.stat().st_size, _limit(ctx, inp)
    if size > limit:
        raise LLMSpellError(
            Code.TOOL_RESOURCE_UNAVAILABLE,
            f"file_reader: '{inp['path']}' is {size} bytes, over the {limit}-byte limit",
            suggestions=["pass a larger max_size"],
        )
    data = p.read_bytes()
    enc = inp.get("encoding", "utf-8")
    if enc in ("base64", "binary"):
        return base64.b64encode(data).decode()
    try:
        text = data.decode(enc)
    except LookupError:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"file_reader: unknown encoding {enc!r}") from None
    except UnicodeDecodeError as e:
        raise LLMSpellError(
            Code.TOOL_EXECUTION_FAILED,
            f"file_reader: '{inp['path']}' is not valid {enc} (byte {e.start}); "
            "use encoding = 'base64' for binary files",
        ) from None
    if "start_line" in inp or "end_line" in inp:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[inp.get("start_line", 1) - 1: inp.get("end_line", len(lines))])
    return text


@builtin("file_writer", "filesystem", "Write a file atomically, optionally keeping a backup", {
    "properties": {
        "path": {"type": "string"},
        "content": {"type": "string"},
        "encoding": {"type": "string", "default": "utf-8", "description": "a text encoding, or 'base64'"},
        "append": {"type": "boolean", "default": False},
        "create_backup": {"type": "boolean", "default": False},
        "atomic_write": {"type": "boolean", "default": True},
        "create_dirs": {"type": "boolean", "default": True},
    },
    "required": ["path", "content"],
})
def file_writer(inp: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    p = check_path(ctx, inp["path"], "file_writer")
    enc = inp.get("encoding", "utf-8")
    try:
        data = base64.b64decode(inp["content"]) if enc == "base64" else inp["content"].encode(enc)
    except (LookupError, ValueError) as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"file_writer: cannot encode content: {e}") from None
    if p.is_dir():
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"file_writer: '{inp['path']}' is a directory")
    if inp.get("create_dirs", True):
        p.parent.mkdir(parents=True, exist_ok=True)
    elif not p.parent.is_dir():
        raise LLMSpellError(Code.TOOL_RESOURCE_UNAVAILABLE, f"file_writer: folder of '{inp['path']}' does not exist")
    backup = None
    if inp.get("create_backup") and p.exists():
        backup = p.with_name(p.name + ".bak")
        backup.write_bytes(p.read_bytes())
    if inp.get("append") and p.exists():
        data = p.read_bytes() + data
    if inp.get("atomic_write", True):
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if p.exists():
                os.chmod(tmp, stat.S_IMODE(p.stat().st_mode))
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        p.write_bytes(data)
    return {"path": inp["path"], "bytes_written": len(data), "backup": str(backup) if backup else None}


def _walk(root: Path, recursive: bool, max_depth: int | None, hidden: bool, policy: PathPolicy) -> Any:
    """(entry, depth) under `root`, never following a symlinked folder, and only entries
    whose real path the policy permits (a refused folder is not entered)."""
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        depth = len(d.parts) - base_depth
        dirnames[:] = sorted(x for x in dirnames if (hidden or not x.startswith(".")) and policy.permits(d / x))
        yield from ((d / name, depth + 1) for name in dirnames)
        for name in sorted(filenames):
            if (hidden or not name.startswith(".")) and policy.permits(d / name):
                yield d / name, depth + 1
        if not recursive or (max_depth is not None and depth + 1 >= max_depth):
            dirnames[:] = []


def _entry(p: Path, root: Path, meta: bool) -> dict[str, Any]:
    kind = "symlink" if p.is_symlink() else "directory" if p.is_dir() else "file"
    e: dict[str, Any] = {"name": p.name, "path": str(p.relative_to(root)), "type": kind}
    if meta:
        st = p.lstat()
        e.update(size=st.st_size, modified=_iso(st.st_mtime), permissions=oct(stat.S_IMODE(st.st_mode)))
    return e


@builtin("directory_lister", "filesystem", "List a folder's entries, optionally recursively and filtered by glob", {
    "properties": {
        "path": {"type": "string", "default": "."},
        "recursive": {"type": "boolean", "default": False},
        "pattern": {"type": "string", "description": "glob on the entry name, e.g. '*.md'"},
        "include_metadata": {"type": "boolean", "default": False},
        "include_hidden": {"type": "boolean", "default": False},
        "max_depth": {"type": "integer", "minimum": 1},
        "max_entries": {"type": "integer", "minimum": 1, "default": 1000},
        "type": {"enum": ["file", "directory", "any"], "default": "any"},
    },
})
def directory_lister(inp: dict[str, Any], ctx: ToolContext) -> list[dict[str, Any]]:
    policy = PathPolicy(ctx)
    root = check_path(ctx, inp.get("path", "."), "directory_lister", must_exist=True, policy=policy)
    if not root.is_dir():
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"directory_lister: '{inp.get('path')}' is not a directory")
    out = []
    pat, kind = inp.get("pattern"), inp.get("type", "any")
    for p, _ in _walk(root, inp.get("recursive", False), inp.get("max_depth"), inp.get("include_hidden", False),
                      policy):
        if pat and not fnmatch.fnmatch(p.name, pat):
            continue
        if kind == "file" and not p.is_file() or kind == "directory" and not p.is_dir():
            continue
        out.append(_entry(p, root, inp.get("include_metadata", False)))
        if len(out) >= inp.get("max_entries", 1000):
            break
    return out


@builtin("file_search", "filesystem", "Find files by name glob and/or lines matching a regex", {
    "properties": {
        "path": {"type": "string", "default": "."},
        "pattern": {"type": "string", "description": "regular expression searched in file contents"},
        "name_pattern": {"type": "string", "description": "glob on file names, e.g. '*.lua'"},
        "recursive": {"type": "boolean", "default": True},
        "case_sensitive": {"type": "boolean", "default": True},
        "max_results": {"type": "integer", "minimum": 1, "default": 100},
        "include_hidden": {"type": "boolean", "default": False},
    },
})
def file_search(inp: dict[str, Any], ctx: ToolContext) -> list[dict[str, Any]]:
    policy = PathPolicy(ctx)
    root = check_path(ctx, inp.get("path", "."), "file_search", must_exist=True, policy=policy)
    if not inp.get("pattern") and not inp.get("name_pattern"):
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT, "file_search: give 'pattern' (content regex) and/or 'name_pattern' (glob)"
        )
    rx = None
    b = Budget(ctx, "file_search")
    if inp.get("pattern"):
        import regex  # timeout-capable: a catastrophic pattern stops instead of hanging the spell
        with b.regex_guard(inp["pattern"]):
            rx = regex.compile(inp["pattern"], 0 if inp.get("case_sensitive", True) else regex.I)
    limit = inp.get("max_results", 100)
    max_size = ctx.config.settings.tools.max_file_size
    out: list[dict[str, Any]] = []
    files = [root] if root.is_file() else (
        p for p, _ in _walk(root, inp.get("recursive", True), None, inp.get("include_hidden", False), policy)
        if p.is_file())
    for p in files:
        b.tick()
        if inp.get("name_pattern") and not fnmatch.fnmatch(p.name, inp["name_pattern"]):
            continue
        rel = str(p.relative_to(root)) if p != root else p.name
        if rx is None:
            out.append({"path": rel})
        else:
            real = os.path.realpath(p)              # read what was checked, not the link again
            if p != root and policy.refusal(real) is not None:
                continue
            try:
                if os.stat(real).st_size > max_size:
                    continue
                with open(real, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue
            with b.regex_guard(inp["pattern"]):
                for n, line in enumerate(text.splitlines(), 1):
                    if rx.search(line, timeout=b.regex_timeout()):
                        out.append({"path": rel, "line": n, "text": line.strip()[:500]})
                        if len(out) >= limit:
                            return out
        if len(out) >= limit:
            break
    return out


@builtin("file_metadata", "filesystem", "Size, dates, permissions and optional checksum of a file", {
    "properties": {
        "path": {"type": "string"},
        "checksum": {"type": "boolean", "default": False},
        "algorithm": {"enum": ["md5", "sha1", "sha256", "sha512", "blake2b"], "default": "sha256"},
    },
    "required": ["path"],
})
def file_metadata(inp: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    raw = Path(inp["path"]) if Path(inp["path"]).is_absolute() else ctx.cwd / inp["path"]
    p = check_path(ctx, inp["path"], "file_metadata", must_exist=True)
    st = p.stat()
    out = {"path": inp["path"], "name": p.name,
           "type": "directory" if p.is_dir() else "file" if p.is_file() else "other",
           "size": st.st_size, "modified": _iso(st.st_mtime), "accessed": _iso(st.st_atime),
           "created": _iso(getattr(st, "st_birthtime", st.st_ctime)),
           "permissions": oct(stat.S_IMODE(st.st_mode)), "is_symlink": raw.is_symlink(),
           "extension": p.suffix, "age_seconds": round(time.time() - st.st_mtime, 3)}
    if inp.get("checksum") and p.is_file():
        h = hashlib.new(inp.get("algorithm", "sha256"))
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out["checksum"] = h.hexdigest()
        out["algorithm"] = inp.get("algorithm", "sha256")
    return out

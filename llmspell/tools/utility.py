"""Utility tools: calculator, text, uuid, hashing, base64, dates, templates, diffs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import time
import uuid
from typing import Any, Callable

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .security import check_path

# -- calculator -----------------------------------------------------------------
_FUNCS: dict[str, Any] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "min": min, "max": max, "exp": math.exp, "ln": math.log, "log10": math.log10, "log2": math.log2,
    "log": lambda x, base=math.e: math.log(x, base), "pow": pow,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians, "factorial": math.factorial, "hypot": math.hypot,
    "gcd": math.gcd, "sum": lambda *a: sum(a), "avg": lambda *a: sum(a) / len(a), "mean": lambda *a: sum(a) / len(a),
    "int": int, "float": float,
}
_CONSTS = {"pi": math.pi, "π": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}


@builtin("calculator", "utility", "Evaluate a math expression safely (no code execution)", {
    "properties": {
        "expression": {"type": "string", "minLength": 1},
        "variables": {"type": "object", "additionalProperties": {"type": "number"}},
        "precision": {"type": "integer", "minimum": 0, "maximum": 15},
    },
    "required": ["expression"],
})
def calculator(inp: dict[str, Any], ctx: ToolContext) -> Any:
    import simpleeval
    from simpleeval import SimpleEval
    simpleeval.MAX_POWER = 10_000
    expr = inp["expression"].replace("^", "**").replace("×", "*").replace("÷", "/")
    ev = SimpleEval(functions=_FUNCS, names={**_CONSTS, **(inp.get("variables") or {})})
    try:
        value = ev.eval(expr)
    except ZeroDivisionError:
        raise LLMSpellError(
            Code.TOOL_EXECUTION_FAILED, f"calculator: division by zero in {inp['expression']!r}"
        ) from None
    except (simpleeval.NameNotDefined, simpleeval.FunctionNotDefined) as e:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"calculator: {e} in {inp['expression']!r}",
            suggestions=["pass values in 'variables'", "functions: " + ", ".join(sorted(_FUNCS))],
        ) from None
    except (SyntaxError, simpleeval.InvalidExpression, TypeError, ValueError, OverflowError, KeyError) as e:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT, f"calculator: cannot evaluate {inp['expression']!r}: {e}"
        ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"calculator: {inp['expression']!r} is not a numeric expression")
    if isinstance(value, float):
        if inp.get("precision") is not None:
            value = round(value, inp["precision"])
        if value.is_integer() and abs(value) < 2**53 and "." not in expr and "/" not in expr:
            value = int(value)
    return value


# -- text -----------------------------------------------------------------------------
def _re_flags(args: dict[str, Any]) -> int:
    return re.I if "i" in str(args.get("flags", "")) else 0


def _split(s: str, args: dict[str, Any]) -> list[str]:
    sep = args.get("separator", args.get("value"))
    return s.split(sep) if sep else s.split()


def _truncate(s: str, args: dict[str, Any]) -> str:
    n = int(args.get("length", args.get("value", 100)))
    suffix = args.get("suffix", "...")
    return s if len(s) <= n else s[: max(0, n - len(suffix))] + suffix


def _replace(s: str, args: dict[str, Any]) -> str:
    pat, rep = args.get("pattern", ""), args.get("replacement", "")
    if not args.get("regex", True):
        return s.replace(pat, rep)
    try:
        return re.sub(pat, rep, s, flags=_re_flags(args) | (0 if args.get("case_sensitive", False) else re.I))
    except re.error as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"text_manipulator: invalid regex {pat!r}: {e}") from None


def _extract(s: str, args: dict[str, Any]) -> list[Any]:
    try:
        found = re.findall(args.get("pattern", args.get("value", "")), s, _re_flags(args))
    except re.error as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"text_manipulator: invalid regex: {e}") from None
    return found if "g" in str(args.get("flags", "g")) else found[:1]


def _pad(s: str, args: dict[str, Any]) -> str:
    n, ch = int(args.get("length", 0)), str(args.get("char", " "))[:1] or " "
    return s.rjust(n, ch) if args.get("side", "left") == "left" else s.ljust(n, ch)


def _lower(s: str, args: dict[str, Any]) -> str:
    return s.lower()


def _upper(s: str, args: dict[str, Any]) -> str:
    return s.upper()


def _title(s: str, args: dict[str, Any]) -> str:
    return s.title()


# name (lower case, without '_' or spaces) → fn(text, args)
_TEXT_OPS: dict[str, Callable[[str, dict[str, Any]], Any]] = {
    "trim": lambda s, a: s.strip(),
    "lowercase": _lower, "tolowercase": _lower, "lower": _lower,
    "uppercase": _upper, "touppercase": _upper, "upper": _upper,
    "capitalize": lambda s, a: s[:1].upper() + s[1:],
    "title": _title, "titlecase": _title,
    "reverse": lambda s, a: s[::-1],
    "length": lambda s, a: len(s),
    "wordcount": lambda s, a: len(s.split()),
    "words": lambda s, a: s.split(),
    "lines": lambda s, a: s.splitlines(),
    "slugify": lambda s, a: re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-"),
    "split": _split,
    "truncate": _truncate,
    "replace": _replace,
    "extract": _extract, "match": _extract, "findall": _extract,
    "pad": _pad,
    "repeat": lambda s, a: s * min(int(a.get("count", a.get("value", 1))), 10000),
}
_TEXT_OPS_HINT = ("trim, lowercase, uppercase, capitalize, title, reverse, length, word_count, "
                  "lines, slugify, split, truncate, replace, extract, pad, repeat")


def _text_op(text: Any, op: Any) -> Any:
    """One operation — a name, { name = args } or { operation = name, … } — on one text."""
    if isinstance(op, str):
        name, args = op, {}
    elif isinstance(op, dict) and len(op) == 1:
        name, args = next(iter(op.items()))
        args = args if isinstance(args, dict) else {"value": args}
    elif isinstance(op, dict) and "operation" in op:
        name, args = op["operation"], op
    else:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"text_manipulator: cannot read operation {op!r}")
    fn = _TEXT_OPS.get(re.sub(r"[_\s]", "", str(name)).lower())
    if fn is None:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT, f"text_manipulator: unknown operation {name!r}", suggestions=[_TEXT_OPS_HINT]
        )
    return fn(text if isinstance(text, str) else str(text), args)


@builtin("text_manipulator", "utility", "Transform text: trim, case, replace/extract by regex, split, truncate, …", {
    "properties": {
        "text": {"type": "string"},
        "operation": {"description": "one operation: a name or { name = args }"},
        "operations": {"type": "array", "description": "operations applied in order"},
    },
    "required": ["text"],
})
def text_manipulator(inp: dict[str, Any], ctx: ToolContext) -> Any:
    ops = list(inp.get("operations") or []) + ([inp["operation"]] if inp.get("operation") is not None else [])
    if not ops:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "text_manipulator: give 'operation' or 'operations'")
    value: Any = inp["text"]
    for op in ops:
        if isinstance(value, list):
            value = [_text_op(v, op) for v in value]
        else:
            value = _text_op(value, op)
    return value


# -- uuid -------------------------------------------------------------------------
def _uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rnd = int.from_bytes(os.urandom(10), "big")
    n = (
        (ms & ((1 << 48) - 1)) << 80
        | (0x7 << 76)
        | ((rnd >> 62) & 0xFFF) << 64
        | (0b10 << 62)
        | (rnd & ((1 << 62) - 1))
    )
    return uuid.UUID(int=n)


_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


@builtin("uuid_generator", "utility", "Generate UUIDs (v1, v3, v4, v5, v7)", {
    "properties": {
        "version": {"enum": [1, 3, 4, 5, 7], "default": 4},
        "count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
        "namespace": {"type": "string", "description": "dns, url, oid, x500 or a UUID (v3/v5)"},
        "name": {"type": "string", "description": "name for v3/v5"},
        "format": {"enum": ["standard", "hex", "urn"], "default": "standard"},
        "uppercase": {"type": "boolean", "default": False},
    },
})
def uuid_generator(inp: dict[str, Any], ctx: ToolContext) -> Any:
    v = inp.get("version", 4)
    out = []
    for _ in range(inp.get("count", 1)):
        if v in (3, 5):
            if not inp.get("name"):
                raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"uuid_generator: version {v} needs 'name'")
            ns_raw = inp.get("namespace", "dns")
            try:
                ns = _NAMESPACES.get(ns_raw) or uuid.UUID(ns_raw)
            except ValueError:
                raise LLMSpellError(
                    Code.TOOL_INVALID_INPUT, f"uuid_generator: namespace {ns_raw!r} is not dns/url/oid/x500 or a UUID"
                ) from None
            u = (uuid.uuid3 if v == 3 else uuid.uuid5)(ns, inp["name"])
        else:
            u = {1: uuid.uuid1, 4: uuid.uuid4, 7: _uuid7}[v]()
        s = {"standard": str(u), "hex": u.hex, "urn": u.urn}[inp.get("format", "standard")]
        out.append(s.upper() if inp.get("uppercase") else s)
    return out[0] if inp.get("count", 1) == 1 else out


# -- hashing ----------------------------------------------------------------------
@builtin("hash_calculator", "utility", "Hash text or a file (md5, sha1, sha256, sha512, blake2b, sha3), or HMAC", {
    "properties": {
        "input": {"type": "string"}, "data": {"type": "string"}, "text": {"type": "string"},
        "path": {"type": "string", "description": "hash this file instead"},
        "algorithm": {"enum": ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "blake2s",
                               "sha3_256", "sha3_512"], "default": "sha256"},
        "encoding": {"enum": ["hex", "base64"], "default": "hex"},
        "key": {"type": "string", "description": "makes it an HMAC"},
        "expected": {"type": "string", "description": "compare with this digest (constant time)"},
    },
})
def hash_calculator(inp: dict[str, Any], ctx: ToolContext) -> Any:
    algo = inp.get("algorithm", "sha256")
    if inp.get("path"):
        data = check_path(ctx, inp["path"], "hash_calculator", must_exist=True).read_bytes()
    else:
        text = inp.get("input", inp.get("data", inp.get("text")))
        if text is None:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "hash_calculator: give 'input' (text) or 'path'")
        data = text.encode()
    h = hmac.new(inp["key"].encode(), data, algo) if inp.get("key") else hashlib.new(algo, data)
    raw = h.digest()
    digest = raw.hex() if inp.get("encoding", "hex") == "hex" else base64.b64encode(raw).decode()
    if inp.get("expected") is not None:
        return {"hash": digest, "algorithm": algo, "matches": hmac.compare_digest(digest, inp["expected"])}
    return {"hash": digest, "algorithm": algo}


# -- base64 / url -------------------------------------------------------------------------
@builtin("base64_encoder", "utility", "Base64 (standard or URL-safe) and URL percent encoding/decoding", {
    "properties": {
        "operation": {"enum": ["encode", "decode", "url_encode", "url_decode"], "default": "encode"},
        "input": {"type": "string"}, "text": {"type": "string"},
        "url_safe": {"type": "boolean", "default": False},
    },
})
def base64_encoder(inp: dict[str, Any], ctx: ToolContext) -> str:
    from urllib.parse import quote, unquote
    s = inp.get("input", inp.get("text"))
    if s is None:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "base64_encoder: 'input' is required")
    op = inp.get("operation", "encode")
    if op == "url_encode":
        return quote(s, safe="")
    if op == "url_decode":
        return unquote(s)
    if op == "encode":
        return (base64.urlsafe_b64encode if inp.get("url_safe") else base64.b64encode)(s.encode()).decode()
    try:
        padded = s + "=" * (-len(s) % 4)
        raw = (base64.urlsafe_b64decode if inp.get("url_safe") or "-" in s or "_" in s else base64.b64decode)(
            padded.encode())
        return raw.decode("utf-8")
    except (binascii.Error, ValueError) as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"base64_encoder: input is not valid base64 text: {e}") from None


# -- dates --------------------------------------------------------------------------
@builtin("date_time_handler", "utility", "Now, parse, format, convert time zones, add, diff", {
    "properties": {
        "operation": {"enum": ["now", "parse", "format", "convert", "add", "diff", "info"], "default": "now"},
        "date": {"type": ["string", "number"], "description": "ISO text, a date in most formats, or a Unix timestamp"},
        "date2": {"type": ["string", "number"]},
        "format": {"type": "string", "description": "'YYYY-MM-DD HH:mm:ss' tokens or strftime (%Y-%m-%d)"},
        "timezone": {"type": "string", "description": "IANA name, e.g. 'Europe/Paris'"},
        "to_timezone": {"type": "string"},
        "amount": {"type": "object", "description": "{ days = 1, hours = -2, … } for add"},
        "unit": {"enum": ["seconds", "minutes", "hours", "days", "weeks"], "default": "seconds"},
        "locale": {"type": "string", "default": "en-us"},
    },
})
def date_time_handler(inp: dict[str, Any], ctx: ToolContext) -> Any:
    import arrow
    op = inp.get("operation", "now")
    tz = inp.get("timezone")

    def parse(v: Any) -> Any:
        try:
            if isinstance(v, (int, float)):
                return arrow.get(v)
            if inp.get("format") and op == "parse" and "%" not in inp["format"]:
                return arrow.get(v, inp["format"], tzinfo=tz or "UTC")
            from dateutil import parser
            d = parser.parse(v)
            return arrow.get(d, tzinfo=tz) if d.tzinfo is None and tz else arrow.get(d)
        except (ValueError, TypeError, arrow.parser.ParserError, OverflowError) as e:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"date_time_handler: cannot parse date {v!r}: {e}") from None

    try:
        d = parse(inp["date"]) if inp.get("date") is not None else arrow.utcnow()
        if tz and op in ("now", "format", "info", "convert"):
            d = d.to(tz)
        if inp.get("to_timezone"):
            d = d.to(inp["to_timezone"])
        if op == "add":
            amt = inp.get("amount") or {}
            d = d.shift(**{k if k.endswith("s") else k + "s": v for k, v in amt.items()})
        if op == "diff":
            if inp.get("date2") is None:
                raise LLMSpellError(Code.TOOL_INVALID_INPUT, "date_time_handler: diff needs 'date2'")
            secs = (parse(inp["date2"]) - d).total_seconds()
            div = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}[
                inp.get("unit", "seconds")
            ]
            return {"difference": secs / div, "unit": inp.get("unit", "seconds"), "seconds": secs}
    except arrow.parser.ParserError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"date_time_handler: {e}") from None
    except Exception as e:
        if isinstance(e, LLMSpellError):
            raise
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"date_time_handler: {e}") from None
    fmt = inp.get("format")
    if fmt and op != "parse":
        text = d.strftime(fmt) if "%" in fmt else d.format(fmt, locale=inp.get("locale", "en-us"))
        return text if op == "format" else {"iso": d.isoformat(), "formatted": text, "timestamp": d.timestamp()}
    if op == "info":
        return {"iso": d.isoformat(), "timestamp": d.timestamp(), "year": d.year, "month": d.month, "day": d.day,
                "weekday": d.format("dddd"), "day_of_year": d.timetuple().tm_yday, "timezone": str(d.tzinfo),
                "week": d.isocalendar()[1]}
    return {"iso": d.isoformat(), "timestamp": d.timestamp(), "timezone": str(d.tzinfo)}


# -- templates --------------------------------------------------------------------------
@builtin(
    "template_processor",
    "utility",
    "Render a template ({{name}}, {% for %}, filters) in a sandbox",
    {
        "properties": {
            "template": {"type": "string"},
            "variables": {"type": "object"},
            "options": {
                "type": "object",
                "properties": {"strict": {"type": "boolean"}, "escape_html": {"type": "boolean"}},
            },
        },
        "required": ["template"],
    },
)
def template_processor(inp: dict[str, Any], ctx: ToolContext) -> str:
    from jinja2 import StrictUndefined, TemplateError, Undefined
    from jinja2.sandbox import SandboxedEnvironment
    opts = inp.get("options") or {}
    env = SandboxedEnvironment(undefined=StrictUndefined if opts.get("strict", True) else Undefined,
                               autoescape=bool(opts.get("escape_html", False)))
    try:
        return env.from_string(inp["template"]).render(**(inp.get("variables") or {}))
    except TemplateError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"template_processor: {e}") from None


# -- diffs --------------------------------------------------------------------------
def _struct_diff(a: Any, b: Any, path: str = "") -> list[dict[str, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append({"path": p, "op": "added", "new": b[k]})
            elif k not in b:
                out.append({"path": p, "op": "removed", "old": a[k]})
            else:
                out += _struct_diff(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            p = f"{path}[{i + 1}]"
            if i >= len(a):
                out.append({"path": p, "op": "added", "new": b[i]})
            elif i >= len(b):
                out.append({"path": p, "op": "removed", "old": a[i]})
            else:
                out += _struct_diff(a[i], b[i], p)
        return out
    return [] if a == b else [{"path": path or "$", "op": "changed", "old": a, "new": b}]


@builtin("diff_calculator", "utility", "Line diff of two texts (unified) or structural diff of two tables", {
    "properties": {
        "old": {}, "new": {}, "text1": {}, "text2": {},
        "format": {"enum": ["unified", "ndiff", "json"], "default": "unified"},
        "context_lines": {"type": "integer", "minimum": 0, "default": 3},
        "old_name": {"type": "string", "default": "old"}, "new_name": {"type": "string", "default": "new"},
    },
})
def diff_calculator(inp: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    import difflib
    a, b = inp.get("old", inp.get("text1")), inp.get("new", inp.get("text2"))
    if a is None or b is None:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "diff_calculator: give 'old' and 'new' (or text1 and text2)")
    if not isinstance(a, str) or not isinstance(b, str):
        changes = _struct_diff(a, b)
        return {"identical": not changes, "changes": changes}
    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    if inp.get("format") == "ndiff":
        lines = list(difflib.ndiff(al, bl))
    else:
        lines = list(difflib.unified_diff(al, bl, inp.get("old_name", "old"), inp.get("new_name", "new"),
                                          n=inp.get("context_lines", 3)))
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    return {"identical": a == b, "diff": "".join(x if x.endswith("\n") else x + "\n" for x in lines),
            "added": added, "removed": removed,
            "similarity": round(difflib.SequenceMatcher(None, a, b).ratio(), 4)}

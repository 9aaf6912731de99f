"""Utility tools: calculator, text, uuid, hashing, base64, dates, templates, diffs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import math
import operator
import os
import re
import time
import uuid
from typing import Any, Callable

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .bounds import MAX_INT_BITS, Budget

# -- calculator -----------------------------------------------------------------
_MAX_EXPRESSION = 10_000          # characters
_MAX_MODPOW_BITS = 4096           # pow(a, b, m): exponent and modulus
_INT64 = 2**63


def _digits_text(bits: float) -> str:
    if bits > 1e15:
        return "an astronomical number of"
    return f"about {int(bits / math.log2(10)) + 1:,}"


def _show(x: Any) -> str:
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 64:
        return f"<a {int(x.bit_length() / math.log2(10)) + 1:,}-digit number>"
    return repr(x)


class _Arith:
    """Integer arithmetic whose cost an input cannot blow up: an operation whose
    result would pass MAX_INT_BITS is refused before it runs (2002), and every
    operation checks the spell's deadline."""

    def __init__(self, budget: Budget, where: str, seq_mul: Callable[[Any, Any], Any] = operator.mul) -> None:
        self.budget = budget
        self.where = where
        self.seq_mul = seq_mul          # what a * b is when they are not two integers

    def refuse(self, what: str, bits: float) -> LLMSpellError:
        return LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"{self.budget.tool}: {self.where} is too large to compute: {what} would have "
            f"{_digits_text(bits)} digits (the limit is {int(MAX_INT_BITS / math.log2(10)) + 1:,})",
            suggestions=["use a float for an approximate value (2.0 ** 100)"])

    def power(self, a: Any, b: Any, m: Any = None) -> Any:
        self.budget.tick()
        if m is not None:
            if (all(isinstance(x, int) for x in (a, b, m))
                    and max(abs(b).bit_length(), abs(m).bit_length()) > _MAX_MODPOW_BITS):
                raise self.refuse(f"pow({_show(a)}, {_show(b)}, {_show(m)})", math.inf)
            return pow(a, b, m)
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            bits = (b * math.log2(abs(a)) if abs(a).bit_length() < 1000 else b * abs(a).bit_length()) \
                if b.bit_length() < 64 else math.inf
            if bits > MAX_INT_BITS:
                raise self.refuse(f"{_show(a)} ** {_show(b)}", bits)
        return a ** b

    def mul(self, a: Any, b: Any) -> Any:
        self.budget.tick()
        if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise self.refuse(f"{_show(a)} * {_show(b)}", a.bit_length() + b.bit_length())
        return self.seq_mul(a, b)

    def lshift(self, a: Any, b: Any) -> Any:
        self.budget.tick()
        if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() + b > MAX_INT_BITS:
            raise self.refuse(f"{_show(a)} << {_show(b)}", a.bit_length() + b)
        return a << b

    def factorial(self, n: Any) -> Any:
        self.budget.tick()
        if isinstance(n, int) and n > 20:
            bits = n * (math.log2(n) - math.log2(math.e)) if n.bit_length() < 1000 else math.inf
            if bits > MAX_INT_BITS:
                raise self.refuse(f"factorial({_show(n)})", bits)
        return math.factorial(n)

    def round(self, x: Any, ndigits: Any = None) -> Any:
        if (isinstance(x, int) and isinstance(ndigits, int) and ndigits < 0
                and -ndigits > x.bit_length() / math.log2(10) + 2):
            return 0        # fewer digits than rounded away (Python would build 10 ** -ndigits first)
        return round(x) if ndigits is None else round(x, ndigits)


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
    import ast

    import simpleeval
    from simpleeval import SimpleEval
    raw = inp["expression"]
    if len(raw) > _MAX_EXPRESSION:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"calculator: the expression is {len(raw):,} characters "
                            f"long; the limit is {_MAX_EXPRESSION:,}")
    expr = raw.replace("^", "**").replace("×", "*").replace("÷", "/")
    arith = _Arith(Budget(ctx, "calculator"), repr(raw), simpleeval.safe_mult)
    ops = {**simpleeval.DEFAULT_OPERATORS, ast.Pow: arith.power, ast.Mult: arith.mul, ast.LShift: arith.lshift}
    funcs = {**_FUNCS, "pow": arith.power, "factorial": arith.factorial, "round": arith.round}
    ev = SimpleEval(operators=ops, functions=funcs, names={**_CONSTS, **(inp.get("variables") or {})})
    ev.nodes.pop(ast.Attribute, None)       # no methods: "x".ljust(10 ** 9) is no arithmetic
    try:
        value = ev.eval(expr)
    except ZeroDivisionError:
        raise LLMSpellError(
            Code.TOOL_EXECUTION_FAILED, f"calculator: division by zero in {raw!r}"
        ) from None
    except (simpleeval.NameNotDefined, simpleeval.FunctionNotDefined) as e:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"calculator: {e} in {raw!r}",
            suggestions=["pass values in 'variables'", "functions: " + ", ".join(sorted(_FUNCS))],
        ) from None
    except (RecursionError, MemoryError):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"calculator: {raw[:80]!r}… is nested too deeply "
                            "to evaluate") from None
    except (SyntaxError, simpleeval.InvalidExpression, TypeError, ValueError, OverflowError, KeyError) as e:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT, f"calculator: cannot evaluate {raw!r}: {e}"
        ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"calculator: {raw!r} is not a numeric expression")
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"calculator: the result of {raw!r}, {_show(value)}, is too large for a spell's integers "
            "(at most 2^63 - 1)",
            suggestions=["for an approximate value compute it as a float: 2.0 ** 63, float(factorial(25))"])
    if isinstance(value, float):
        if inp.get("precision") is not None:
            value = round(value, inp["precision"])
        if value.is_integer() and abs(value) < 2**53 and "." not in expr and "/" not in expr:
            value = int(value)
    return value


# -- text -----------------------------------------------------------------------------
# Regexes run on the `regex` module with a timeout (a pattern such as ^(a+)+$ stops);
# an operation whose result could pass what the spell can hold is refused (4005).
_PIECE = 40          # estimated bytes of one list item in the spell, beyond its characters
_SPACES = " \t\n\r\x0b\x0c"


def _re_flags(args: dict[str, Any]) -> int:
    return re.I if "i" in str(args.get("flags", "")) else 0      # the same bit in `regex`


def _split(s: str, args: dict[str, Any], b: Budget) -> list[str]:
    sep = args.get("separator", args.get("value"))
    pieces = (s.count(sep) if sep else sum(s.count(c) for c in _SPACES)) + 1
    b.check_result(len(s) + pieces * _PIECE, "the pieces")
    return s.split(sep) if sep else s.split()


def _words(s: str, args: dict[str, Any], b: Budget) -> list[str]:
    return _split(s, {}, b)


def _lines(s: str, args: dict[str, Any], b: Budget) -> list[str]:
    b.check_result(len(s) + (s.count("\n") + s.count("\r") + 1) * _PIECE, "the lines")
    return s.splitlines()


def _truncate(s: str, args: dict[str, Any], b: Budget) -> str:
    n = int(args.get("length", args.get("value", 100)))
    suffix = args.get("suffix", "...")
    return s if len(s) <= n else s[: max(0, n - len(suffix))] + suffix


def _replace(s: str, args: dict[str, Any], b: Budget) -> str:
    pat, rep = args.get("pattern", ""), args.get("replacement", "")
    if not args.get("regex", True):
        if isinstance(pat, str) and isinstance(rep, str) and len(rep) > len(pat):
            n = s.count(pat) if pat else len(s) + 1
            b.check_result(len(s) + n * (len(rep) - len(pat)), "the replaced text")
        return s.replace(pat, rep)
    import regex
    flags = _re_flags(args) | (0 if args.get("case_sensitive", False) else re.I)
    with b.regex_guard(pat) as timeout:
        if not isinstance(rep, str) or len(s) + (len(s) + 1) * (len(rep) + rep.count("\\") * len(s)) \
                <= b.max_result:
            return regex.sub(pat, rep, s, flags=flags, timeout=timeout)
        # Every match could add to the text (an empty pattern matches len(s) + 1 times,
        # group references repeat the match): count as it goes.
        total = len(s)

        def expand(m: Any) -> str:
            nonlocal total
            out = m.expand(rep)
            total += len(out) - (m.end() - m.start())
            if total > b.max_result:
                raise b.too_big("the replaced text")
            b.tick()
            return out
        return regex.sub(pat, expand, s, flags=flags, timeout=timeout)


def _extract(s: str, args: dict[str, Any], b: Budget) -> list[Any]:
    import regex
    pat = args.get("pattern", args.get("value", ""))
    every = "g" in str(args.get("flags", "g"))
    found: list[Any] = []
    size = 0
    with b.regex_guard(pat, "invalid regex") as timeout:
        rx = regex.compile(pat, _re_flags(args))
        for m in rx.finditer(s, timeout=timeout):        # what findall returns, one match at a time
            if rx.groups == 0:
                item: Any = m.group(0)
            elif rx.groups == 1:
                item = m.group(1) or ""
            else:
                item = tuple(g or "" for g in m.groups())
            size += _PIECE + (len(item) if isinstance(item, str) else sum(len(g) + _PIECE for g in item))
            if size > b.max_result:
                raise b.too_big("the matches")
            found.append(item)
            if not every:
                break
            b.tick()
    return found


def _pad(s: str, args: dict[str, Any], b: Budget) -> str:
    n, ch = int(args.get("length", 0)), str(args.get("char", " "))[:1] or " "
    b.check_result(n, "the padded text")
    return s.rjust(n, ch) if args.get("side", "left") == "left" else s.ljust(n, ch)


def _repeat(s: str, args: dict[str, Any], b: Budget) -> str:
    n = min(int(args.get("count", args.get("value", 1))), 10000)
    b.check_result(len(s) * n, "the repeated text")
    return s * n


def _lower(s: str, args: dict[str, Any], b: Budget) -> str:
    return s.lower()


def _upper(s: str, args: dict[str, Any], b: Budget) -> str:
    return s.upper()


def _title(s: str, args: dict[str, Any], b: Budget) -> str:
    return s.title()


# name (lower case, without '_' or spaces) → fn(text, args, budget)
_TEXT_OPS: dict[str, Callable[[str, dict[str, Any], Budget], Any]] = {
    "trim": lambda s, a, b: s.strip(),
    "lowercase": _lower, "tolowercase": _lower, "lower": _lower,
    "uppercase": _upper, "touppercase": _upper, "upper": _upper,
    "capitalize": lambda s, a, b: s[:1].upper() + s[1:],
    "title": _title, "titlecase": _title,
    "reverse": lambda s, a, b: s[::-1],
    "length": lambda s, a, b: len(s),
    "wordcount": lambda s, a, b: len(s.split()),
    "words": _words,
    "lines": _lines,
    "slugify": lambda s, a, b: re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-"),
    "split": _split,
    "truncate": _truncate,
    "replace": _replace,
    "extract": _extract, "match": _extract, "findall": _extract,
    "pad": _pad,
    "repeat": _repeat,
}
_TEXT_OPS_HINT = ("trim, lowercase, uppercase, capitalize, title, reverse, length, word_count, "
                  "lines, slugify, split, truncate, replace, extract, pad, repeat")


def _text_op(text: Any, op: Any, b: Budget) -> Any:
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
    return fn(text if isinstance(text, str) else str(text), args, b)


def _text_size(v: Any) -> int:
    return len(v) + _PIECE if isinstance(v, str) else sum(map(_text_size, v)) if isinstance(v, list) else _PIECE


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
    b = Budget(ctx, "text_manipulator")
    value: Any = inp["text"]
    for op in ops:
        b.check()
        if isinstance(value, list):
            out, size = [], 0
            for v in value:
                r = _text_op(v, op, b)
                size += _text_size(r)
                if size > b.max_result:
                    raise b.too_big("the result")
                out.append(r)
                b.tick()
            value = out
        else:
            value = _text_op(value, op, b)
            if isinstance(value, str):
                b.check_result(len(value))
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
    h = hmac.new(inp["key"].encode(), None, algo) if inp.get("key") else hashlib.new(algo)
    if inp.get("path"):     # read in chunks, refused over tools.max_file_size
        for chunk in Budget(ctx, "hash_calculator").read_chunks(inp["path"]):
            h.update(chunk)
    else:
        text = inp.get("input", inp.get("data", inp.get("text")))
        if text is None:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "hash_calculator: give 'input' (text) or 'path'")
        h.update(text.encode())
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
    if op in ("url_encode", "encode"):
        b = Budget(ctx, "base64_encoder")
        if len(s) * 12 > b.max_result:     # at most 4 UTF-8 bytes a character, 3 characters a byte (%E2)
            n = len(s.encode())
            b.check_result(n * 3 if op == "url_encode" else (n + 2) // 3 * 4, "the encoded text")
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
_MAX_DATE_TEXT = 10_000


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
    for key in ("date", "date2", "format", "timezone", "to_timezone"):
        v = inp.get(key)
        if isinstance(v, str) and len(v) > _MAX_DATE_TEXT:      # parsing and formatting run per character
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"date_time_handler: '{key}' is {len(v):,} characters "
                                f"long; at most {_MAX_DATE_TEXT:,}")
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
# Jinja's sandbox keeps templates away from Python; this keeps them bounded too. Every
# `for` loop (and recursive loop) iterates through `t_iter`, every call, filter and
# `* ** % +` goes through a check, `~` and captured blocks (`set`, macros, filter
# blocks) are measured before they are joined, and the output is measured as it is
# produced: the spell's time limit stops a render (2008), text or lists that could
# not be held are refused before they are built (4005), big integers as in the
# calculator (2002).
_MAX_ITEMS = 100_000                 # one range() or repeated list (Jinja's own MAX_RANGE)
_MAX_TOKENS = 100_000                # a template's tags, names and operators (compiling is not interruptible)
_MAX_PY_TEXT = 1_000_000             # characters given to filters that work per character in Python
_MAX_ROUND_DIGITS = 1000
_MAX_JSON_INDENT = 16
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_PRINTF_WIDE = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\*|\d{6}|\d*\.(?:\*|\d{6}))")    # a width worth checking
_BUF_CONCAT = re.compile(r"(?<![\w.])concat\(")
_STORING = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})
_GROWTH = {"escape": 6, "e": 6, "forceescape": 6, "urlencode": 12, "upper": 3, "title": 3, "capitalize": 3}
_CHECKED_FILTERS = frozenset({*_GROWTH, "center", "indent", "format", "replace", "join", "wordwrap", "urlize",
                              "tojson", "pprint", "string", "list", "batch", "slice", "round"})
_JINJA: list[type] = []              # the environment class, made on first use (jinja2 loads lazily)


def _tpl_error(msg: str) -> LLMSpellError:
    return LLMSpellError(Code.TOOL_INVALID_INPUT, f"template_processor: {msg}")


def _jinja_env() -> type:
    if _JINJA:
        return _JINJA[0]
    import functools
    import types

    from jinja2.compiler import CodeGenerator, optimizeconst
    from jinja2.ext import Extension
    from jinja2.runtime import markup_join
    from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
    from jinja2.utils import generate_lorem_ipsum
    from markupsafe import Markup

    class Tokens(Extension):
        """Compiling runs in Python too: count the template's tokens (tick per token),
        refusing templates too big to compile within a spell's time."""

        def filter_stream(self, stream: Any) -> Any:
            b = self.environment.t_budget  # type: ignore[attr-defined]
            for n, token in enumerate(stream):
                if n >= _MAX_TOKENS:
                    raise _tpl_error(f"the template has more than {_MAX_TOKENS:,} tokens (tags, names, "
                                     "operators); split it into smaller templates")
                b.tick()
                yield token

    class Gen(CodeGenerator):
        """Jinja's code generator, with every loop iterable, `~` and buffer join routed
        through the environment's checks."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.t_iters: set[int] = set()

        def visit_For(self, node: Any, frame: Any) -> None:
            self.t_iters.add(id(node.iter))
            super().visit_For(node, frame)

        def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
            self.environment.t_budget.tick()  # type: ignore[attr-defined]
            if id(node) in self.t_iters:
                self.write("environment.t_iter(")
                super().visit(node, *args, **kwargs)
                self.write(")")
                return None
            return super().visit(node, *args, **kwargs)

        def write(self, x: str) -> None:
            if x == "reciter":                      # a recursive loop's iterable
                x = "environment.t_iter(reciter)"
            elif "concat(t_" in x and "'" not in x and '"' not in x:   # joining a captured buffer
                x = _BUF_CONCAT.sub("environment.t_concat(", x)
            super().write(x)

        @optimizeconst
        def visit_Concat(self, node: Any, frame: Any) -> None:
            mode = ("context.eval_ctx.volatile" if frame.eval_ctx.volatile
                    else "True" if frame.eval_ctx.autoescape else "False")
            self.write(f"environment.t_join({mode}, (")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class FmtChecks:
        _env: Any

        def format_field(self, value: Any, format_spec: str) -> Any:
            self._env.t_spec_digits(re.findall(r"\d+", format_spec))
            if not isinstance(value, str):
                self._env.t_budget.measure(value, "a formatted value")
            return super().format_field(value, format_spec)  # type: ignore[misc]

    class Fmt(FmtChecks, SandboxedFormatter):
        pass

    class EscFmt(FmtChecks, SandboxedEscapeFormatter):
        pass

    class Env(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})
        code_generator_class = Gen

        def __init__(self, budget: Budget, **kwargs: Any) -> None:
            self.t_budget = budget
            self.t_stored = 0
            self.t_arith = _Arith(budget, "an expression in the template", self.t_seq_mul)
            super().__init__(finalize=self.t_finalize, extensions=[Tokens], **kwargs)
            self.globals["range"] = self.t_range
            self.globals["lipsum"] = self.t_lipsum
            self.filters = {k: self.t_filter(k, f) for k, f in self.filters.items()}

        # -- what compiled templates call
        def t_iter(self, iterable: Any) -> Any:
            tick = self.t_budget.tick
            for x in iterable:
                tick()
                yield x

        def t_collect(self, iterable: Any, what: str, sep: int = 0) -> list[Any]:
            """The items of a (maybe lazy, e.g. `|map`) iterable, measured as they come:
            refused as soon as they pass what the spell could hold, not after."""
            b = self.t_budget
            items: list[Any] = []
            n = 0
            for x in self.t_iter(iterable):
                n += (len(x) if isinstance(x, str) else b.measure(x, what)) + sep
                b.check_result(n, what)
                items.append(x)
            return items

        def t_concat(self, buf: list[Any]) -> str:
            try:
                n = sum(map(len, buf))
            except TypeError:
                n = 0
            self.t_budget.check_result(n, "the rendered text")
            self.t_budget.tick()
            return "".join(buf)

        def t_join(self, markup: bool, parts: tuple[Any, ...]) -> str:
            b = self.t_budget
            n = 0
            for p in parts:
                n += len(p) if isinstance(p, str) else b.measure(p, "a value joined with ~")
            b.check_result(n, "the text joined with ~")
            return markup_join(parts) if markup else "".join(map(str, parts))

        def t_finalize(self, value: Any) -> Any:
            if not isinstance(value, str):
                self.t_budget.measure(value, "a value the template prints")
            return value

        def t_sized(self, rv: Any) -> Any:
            if isinstance(rv, str):
                self.t_budget.check_result(len(rv), "a text the template built")
            elif isinstance(rv, (list, tuple, dict, set)) and len(rv) * 16 > self.t_budget.max_result:
                raise self.t_budget.too_big("a list the template built", len(rv) * 16)
            return rv

        def t_range(self, *args: Any) -> range:
            r = range(*args)
            try:
                n: float = len(r)
            except OverflowError:
                n = math.inf
            if n > _MAX_ITEMS:
                raise _tpl_error(f"range({', '.join(map(str, args))}) has {n:,} items; the limit is {_MAX_ITEMS:,}")
            return r

        def t_lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
            if n * max > _MAX_ITEMS * 10:
                raise _tpl_error(f"lipsum({n}, max={max}) would make {n * max:,} words; the limit is "
                                 f"{_MAX_ITEMS * 10:,}")
            return generate_lorem_ipsum(n, html, min, max)

        # -- checks
        def t_spec_digits(self, numbers: list[str]) -> None:
            for d in numbers:
                if len(d) > 12 or int(d) > self.t_budget.max_result:
                    raise self.t_budget.too_big("a formatted value", int(d) if len(d) <= 18 else None)

        def t_printf(self, fmt: str, args: Any) -> None:
            self.t_budget.measure(args, "the values formatted with %")
            if not _PRINTF_WIDE.search(fmt):
                return
            star = False
            for m in _PRINTF.finditer(fmt):
                for g in m.groups():
                    if g == "*":
                        star = True
                    elif g:
                        self.t_spec_digits([g])
            values = args if isinstance(args, tuple) else (args,)
            if star:
                self.t_spec_digits([str(abs(v)) for v in values if isinstance(v, int)])

        def t_seq_mul(self, a: Any, b: Any) -> Any:
            seq, n = (a, b) if isinstance(a, (str, list, tuple)) else (b, a)
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 1:
                if isinstance(seq, str):
                    self.t_budget.check_result(len(seq) * n, "a repeated text")
                elif len(seq) * n > _MAX_ITEMS:
                    raise _tpl_error(f"a list repeated {n:,} times would have {len(seq) * n:,} items; "
                                     f"the limit is {_MAX_ITEMS:,}")
            return a * b

        def t_str_method(self, s: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
            b = self.t_budget

            def arg(i: int, key: str, default: Any = None) -> Any:
                return args[i] if len(args) > i else kwargs.get(key, default)
            if name in ("center", "ljust", "rjust", "zfill"):
                width = arg(0, "width", 0)
                if isinstance(width, int):
                    b.check_result(width, "a padded text")
            elif name == "expandtabs":
                size = arg(0, "tabsize", 8)
                if isinstance(size, int):
                    b.check_result(len(s) + s.count("\t") * size, "a text with tabs expanded")
            elif name == "replace":
                old, new, count = arg(0, "old"), arg(1, "new"), arg(2, "count", -1)
                if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
                    n = s.count(old) if old else len(s) + 1
                    if isinstance(count, int) and count >= 0:
                        n = min(n, count)
                    b.check_result(len(s) + n * (len(new) - len(old)), "a replaced text")
            elif name == "join" and args:
                items = self.t_collect(args[0], "a joined text", len(s))
                args = (items, *args[1:])
            elif name == "translate" and args and isinstance(args[0], dict):
                longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
                b.check_result(len(s) * longest, "a translated text")
            return args

        def t_filter(self, name: str, fn: Any) -> Any:
            """The filters that can build more than they are given, checked before they run."""
            if name not in _CHECKED_FILTERS:
                return fn
            pass_arg = getattr(fn, "jinja_pass_arg", None)
            skip = 0 if pass_arg is None else 1
            env = self

            def checked(*args: Any, **kwargs: Any) -> Any:
                if len(args) > skip:
                    args = env.t_filter_args(name, args, skip, kwargs)
                return env.t_sized(fn(*args, **kwargs))
            if pass_arg is not None:
                checked.jinja_pass_arg = pass_arg     # type: ignore[attr-defined]
            return checked

        def t_filter_args(self, name: str, args: tuple[Any, ...], skip: int, kwargs: dict[str, Any]) -> tuple[Any, ...]:
            b = self.t_budget
            value, rest = args[skip], args[skip + 1:]

            def arg(i: int, key: str, default: Any = None) -> Any:
                return rest[i] if len(rest) > i else kwargs.get(key, default)
            if name in _GROWTH and isinstance(value, str):
                b.check_result(len(value) * _GROWTH[name], f"the text of |{name}")
            elif name == "center" and isinstance(arg(0, "width", 80), int):
                b.check_result(arg(0, "width", 80), "a centered text")
            elif name == "indent" and isinstance(value, str):
                width = arg(0, "width", 4)
                w = width if isinstance(width, int) else len(str(width))
                b.check_result(len(value) + (value.count("\n") + 1) * w, "an indented text")
            elif name == "format" and isinstance(value, str):
                self.t_printf(value, kwargs or rest)
            elif name == "replace" and isinstance(value, str):
                self.t_str_method(value, "replace", rest, kwargs)
            elif name == "join":
                items = self.t_collect(value, "a joined text", len(str(arg(0, "d", ""))))
                args = (*args[:skip], items, *rest)
            elif name in ("wordwrap", "urlize") and isinstance(value, str):
                if len(value) > _MAX_PY_TEXT:
                    raise _tpl_error(f"|{name} works on at most {_MAX_PY_TEXT:,} characters; "
                                     f"this text has {len(value):,}")
                if name == "wordwrap":
                    wrap = arg(2, "wrapstring") or "\n"
                    b.check_result(len(value) * (1 + len(str(wrap))), "a wrapped text")
            elif name == "tojson":
                indent = arg(0, "indent")
                if (isinstance(indent, int) and indent > _MAX_JSON_INDENT
                        or isinstance(indent, str) and len(indent) > _MAX_JSON_INDENT):
                    raise _tpl_error(f"|tojson indent is at most {_MAX_JSON_INDENT}")
                b.measure(value, "the value of |tojson")
            elif name in ("pprint", "string") and not isinstance(value, str):
                b.measure(value, f"the value of |{name}")
            elif name == "list" and not isinstance(value, (str, list, tuple, dict)):
                args = (*args[:skip], self.t_collect(value, "a list"), *rest)
            elif name == "list" and isinstance(value, str):
                b.check_result(len(value) * 40, "the characters of |list")
            elif name == "batch" and arg(1, "fill_with") is not None:
                if isinstance(arg(0, "linecount"), int) and arg(0, "linecount") > _MAX_ITEMS:
                    raise _tpl_error(f"|batch fills at most {_MAX_ITEMS:,} items")
            elif name == "slice" and isinstance(arg(0, "slices"), int) and arg(0, "slices") > _MAX_ITEMS:
                raise _tpl_error(f"|slice makes at most {_MAX_ITEMS:,} slices")
            elif name == "round" and isinstance(arg(0, "precision", 0), int):
                if abs(arg(0, "precision", 0)) > _MAX_ROUND_DIGITS:
                    raise _tpl_error(f"|round precision is at most {_MAX_ROUND_DIGITS} digits")
            return args

        # -- the sandbox's hooks
        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**":
                return self.t_arith.power(left, right)
            if operator == "*":
                return self.t_arith.mul(left, right)
            if operator == "%" and isinstance(left, str):
                self.t_printf(left, right)
            elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                n = len(left) + len(right)
                if isinstance(left, str):
                    self.t_budget.check_result(n, "a text joined with +")
                elif n * 16 > self.t_budget.max_result:
                    raise self.t_budget.too_big("a list joined with +", n * 16)
            return self.binop_table[operator](left, right)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.t_budget.tick()
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
                args = self.t_str_method(owner, obj.__name__, args, kwargs)
            if isinstance(owner, (list, dict, set)) and obj.__name__ in _STORING:
                # what a template keeps in its lists and dicts (append in a loop) adds up
                self.t_stored += self.t_budget.measure((args, kwargs), "a value stored in a list")
                if self.t_stored > self.t_budget.max_result:
                    raise self.t_budget.too_big("the values stored in lists and dicts")
            return self.t_sized(super().call(context, obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Any:
            """Jinja's (3.1.5+) sandboxed str.format, with every field checked."""
            if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) \
                    or value.__name__ not in ("format", "format_map"):
                return None
            owner = value.__self__
            if not isinstance(owner, str):
                return None
            str_type, is_map = type(owner), value.__name__ == "format_map"
            fmt = EscFmt(self, escape=owner.escape) if isinstance(owner, Markup) else Fmt(self)

            def wrapper(*args: Any, **kwargs: Any) -> str:
                if is_map:
                    if kwargs:
                        raise TypeError("format_map() takes no keyword arguments")
                    if len(args) != 1:
                        raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                    kwargs, args = args[0], ()
                return str_type(fmt.vformat(owner, args, kwargs))
            return functools.update_wrapper(wrapper, value)

    _JINJA.append(Env)
    return Env


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
    b = Budget(ctx, "template_processor", "rendering the template")
    source = b.check_input("the template", inp["template"])
    opts = inp.get("options") or {}
    env = _jinja_env()(b, undefined=StrictUndefined if opts.get("strict", True) else Undefined,
                       autoescape=bool(opts.get("escape_html", False)))
    try:
        template = env.from_string(source)
        b.check()
        chunks = template.generate(**(inp.get("variables") or {}))
        out, size = [], 0
        while batch := list(itertools.islice(chunks, 256)):
            size += sum(map(len, batch))
            if size > b.max_result:
                raise b.too_big("the rendered text")
            out.append("".join(batch))
            b.check()
        return "".join(out)
    except TemplateError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"template_processor: {e}") from None
    except RecursionError:
        raise _tpl_error("the template nests or recurses too deeply (a macro that calls itself "
                         "without end?)") from None


# -- diffs --------------------------------------------------------------------------
# difflib's matcher can take quadratic time per step on crafted text; ours checks the
# deadline as it looks up matches, so a diff stops at the spell's time limit.
_MAX_NDIFF_LINE = 20_000             # ndiff compares changed lines character by character
_MAX_CHAR_SIMILARITY = 1_000_000     # characters (both texts) compared one by one for `similarity`; lines beyond


_TICKED_LOOKUPS = 1_000_000         # a matching step that may look at more elements checks the deadline inside


def _matcher(b: Budget) -> type:
    import difflib

    class Ticking(dict):  # type: ignore[type-arg]
        """difflib looks up every element of `a` here: the deadline is checked every
        1024 lookups."""
        n = 0

        def get(self, key: Any, default: Any = None) -> Any:
            self.n += 1
            if not self.n & 0x3FF:
                b.check()
            return dict.get(self, key, default)

    class Matcher(difflib.SequenceMatcher):  # type: ignore[type-arg]
        """A matching step costs at most its range of `a` times the longest list of
        positions in `b`: when that could be long, the lookups check the deadline."""

        def set_seq2(self, seq: Any) -> None:
            super().set_seq2(seq)
            if type(self.b2j) is dict:
                self.t_plain = self.b2j
                self.t_ticking = Ticking(self.b2j)
                self.t_longest = max(map(len, self.b2j.values()), default=0)

        def find_longest_match(self, alo: int = 0, ahi: Any = None, blo: int = 0, bhi: Any = None) -> Any:
            b.tick()
            ahi = len(self.a) if ahi is None else ahi
            self.b2j = self.t_ticking if (ahi - alo) * self.t_longest > _TICKED_LOOKUPS else self.t_plain
            return super().find_longest_match(alo, ahi, blo, bhi)
    return Matcher


def _unified(a: list[str], b: list[str], old: str, new: str, n: int, budget: Budget) -> tuple[list[str], Any]:
    """difflib.unified_diff on the deadline-checking matcher (and the matcher)."""
    def rng(start: int, stop: int) -> str:
        length = stop - start
        if length == 1:
            return f"{start + 1}"
        return f"{start + 1 if length else start},{length}"
    out: list[str] = []
    matcher = _matcher(budget)(None, a, b)
    for group in matcher.get_grouped_opcodes(n):
        if not out:
            out += [f"--- {old}\n", f"+++ {new}\n"]
        first, last = group[0], group[-1]
        out.append(f"@@ -{rng(first[1], last[2])} +{rng(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                out += ["-" + line for line in a[i1:i2]]
            if tag in ("replace", "insert"):
                out += ["+" + line for line in b[j1:j2]]
    return out, matcher


def _ndiff(a: list[str], b: list[str], budget: Budget) -> list[str]:
    """difflib.ndiff on the deadline-checking matcher (the character junk test checks it too)."""
    import difflib
    long = max((len(x) for x in (*a, *b)), default=0)
    if long > _MAX_NDIFF_LINE:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"diff_calculator: ndiff compares changed lines character "
                            f"by character; a line of {long:,} characters is over {_MAX_NDIFF_LINE:,}",
                            suggestions=["use format = 'unified'"])

    def charjunk(ch: str) -> bool:
        budget.tick()
        return difflib.IS_CHARACTER_JUNK(ch)
    matcher = _matcher(budget)

    class Differ(difflib.Differ):
        def compare(self, a: Any, b: Any) -> Any:
            for tag, alo, ahi, blo, bhi in matcher(self.linejunk, a, b).get_opcodes():
                if tag == "replace":
                    yield from self._fancy_replace(a, alo, ahi, b, blo, bhi)
                else:
                    yield from self._dump({"delete": "-", "insert": "+", "equal": " "}[tag],
                                          *((b, blo, bhi) if tag == "insert" else (a, alo, ahi)))
    return list(Differ(None, charjunk).compare(a, b))


def _struct_diff(a: Any, b: Any, path: str = "", budget: Budget | None = None) -> list[dict[str, Any]]:
    if budget is not None:
        budget.tick()
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append({"path": p, "op": "added", "new": b[k]})
            elif k not in b:
                out.append({"path": p, "op": "removed", "old": a[k]})
            else:
                out += _struct_diff(a[k], b[k], p, budget)
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
                out += _struct_diff(a[i], b[i], p, budget)
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
    a, b = inp.get("old", inp.get("text1")), inp.get("new", inp.get("text2"))
    if a is None or b is None:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "diff_calculator: give 'old' and 'new' (or text1 and text2)")
    budget = Budget(ctx, "diff_calculator", "comparing")
    for name, text in (("'old'", a), ("'new'", b)):
        if isinstance(text, str):
            budget.check_input(name, text)
    if not isinstance(a, str) or not isinstance(b, str):
        try:
            changes = _struct_diff(a, b, "", budget)
        except RecursionError:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "diff_calculator: the tables nest too deeply "
                                "to compare") from None
        return {"identical": not changes, "changes": changes}
    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    by_lines = None
    if inp.get("format") == "ndiff":
        lines = _ndiff(al, bl, budget)
    else:
        lines, by_lines = _unified(al, bl, inp.get("old_name", "old"), inp.get("new_name", "new"),
                                   inp.get("context_lines", 3), budget)
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    diff = "".join(x if x.endswith("\n") else x + "\n" for x in lines)
    budget.check_result(len(diff), "the diff")
    if len(a) + len(b) <= _MAX_CHAR_SIMILARITY:
        similar = _matcher(budget)(None, a, b)
    else:       # indexing every character of long texts is itself seconds of uninterruptible Python
        similar = by_lines or _matcher(budget)(None, al, bl)
    return {"identical": a == b, "diff": diff, "added": added, "removed": removed,
            "similarity": round(similar.ratio(), 4)}

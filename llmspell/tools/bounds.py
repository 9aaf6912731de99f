"""What keeps a built-in tool call bounded: the spell's time limit, the size of
what a tool reads (`tools.max_file_size`) and the size of what it returns (a
share of `security.max_memory`: what the spell can hold).

A tool runs on the engine's thread and cannot be interrupted from outside, so a
tool whose work grows with its input either refuses the input up front (when
the cost is known before the work: sizes, exponents, repeat counts) or calls
`Budget.tick()` as it goes (loops, parsers, renderers), which raises once the
spell's deadline has passed. Regexes run on the `regex` module with a timeout.

    b = Budget(ctx, "csv_processor")
    text = b.read_text(inp["path"])            # refuses files over tools.max_file_size
    for row in rows: b.tick()                  # 2008 once the spell's time is up
    b.measure(result)                          # 4005 if the spell could not hold it
"""

from __future__ import annotations

import math
import os
import stat
import time
from contextlib import contextmanager
from typing import Any, Iterator

from .. import deadline
from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from .security import check_path

REGEX_TIMEOUT = 5.0          # seconds one regex call may take at most (within the spell's limit too)
MAX_INT_BITS = 1 << 14       # 16,384 bits (4,932 digits): the largest integer arithmetic builds
_DEFAULT_MEMORY = 256_000_000
_DEFAULT_FILE = 10_000_000
_DEFAULT_TIME = 300.0
_TICK_MASK = 0xFF            # tick() reads the clock every 256 calls

# Estimated bytes a value takes once handed to a spell (Lua/JS objects, not Python's).
_STR, _SCALAR, _CONTAINER, _ITEM, _ENTRY = 24, 16, 56, 16, 32


def human(n: float) -> str:
    """12_345_678 → '12.3 MB'."""
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} bytes"


class Budget:
    """The limits of one tool call: when it must stop, what it may read, what it may return."""

    def __init__(self, ctx: ToolContext | None, tool: str, doing: str = "") -> None:
        self.tool = tool
        self.doing = doing          # for the time-out message: "stopped rendering the template"
        self.ctx = ctx
        self._n = 0
        now = time.monotonic()
        if ctx is None:     # a tool function called directly (tests)
            self.max_memory, self.max_file_size, limit = _DEFAULT_MEMORY, _DEFAULT_FILE, _DEFAULT_TIME
            run_end, why = math.inf, None
        else:
            s = ctx.config.settings
            self.max_memory = s.security.max_memory if s.security.max_memory > 0 else _DEFAULT_MEMORY
            self.max_file_size = s.tools.max_file_size
            limit = s.security.max_execution_time if s.security.max_execution_time > 0 else _DEFAULT_TIME
            run_end, why = deadline.limit_at(ctx.run), deadline.limit_message(ctx.run)
        if run_end <= now + limit:
            self.end = run_end
            self._why = why or f"spell exceeded security.max_execution_time ({limit:g}s)"
        else:               # no spell deadline (e.g. `llmspell tools run`): the same limit per call
            self.end = now + limit
            self._why = f"a tool call may take at most security.max_execution_time ({limit:g}s)"
        # what one result may take: half the spell's memory (it must also hold the rest)
        self.max_result = self.max_memory // 2

    # -- time -----------------------------------------------------------------------
    def tick(self) -> None:
        """Call in loops: raises 2008 once the deadline has passed (reads the clock
        every 256 calls)."""
        self._n += 1
        if not self._n & _TICK_MASK and time.monotonic() > self.end:
            raise self.timeout()

    def check(self) -> None:
        """Raises 2008 if the deadline has passed (reads the clock now)."""
        if time.monotonic() > self.end:
            raise self.timeout()

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def timeout(self) -> LLMSpellError:
        return LLMSpellError(
            Code.TOOL_TIMEOUT, f"{self.tool}: stopped{' ' + self.doing if self.doing else ''}: {self._why}",
            suggestions=["give it less work (smaller input), or raise [security] max_execution_time"])

    # -- regexes ----------------------------------------------------------------------
    def regex_timeout(self) -> float:
        return max(0.001, min(REGEX_TIMEOUT, self.remaining()))

    @contextmanager
    def regex_guard(self, pattern: Any, invalid: str | None = None) -> Iterator[float]:
        """Around calls of the `regex` module, given the timeout it yields: a bad
        pattern becomes 2002 ("{invalid}: …", default "invalid regex 'PATTERN'"), a
        pattern that runs too long 2008."""
        import regex
        budget = self.regex_timeout()
        try:
            yield budget
        except regex.error as e:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT,
                                f"{self.tool}: {invalid or f'invalid regex {pattern!r}'}: {e}") from None
        except TimeoutError:
            spell = budget < REGEX_TIMEOUT
            raise LLMSpellError(
                Code.TOOL_TIMEOUT,
                f"{self.tool}: the regex {pattern!r} took too long on this text (stopped after {budget:.3g}s"
                + (f", the spell's time limit: {self._why})" if spell else ")"),
                suggestions=["simplify the pattern: nested or overlapping repeats such as (a+)+ or (a|aa)+ "
                             "backtrack exponentially on text they do not match"]) from None

    # -- sizes --------------------------------------------------------------------------
    def too_big(self, what: str, size: int | None = None) -> LLMSpellError:
        amount = f"would be about {human(size)}" if size is not None else f"grew past {human(self.max_result)}"
        return LLMSpellError(
            Code.SCRIPT_MEMORY_LIMIT_EXCEEDED,
            f"{self.tool}: {what} {amount}, more than the spell can hold "
            f"(security.max_memory = {human(self.max_memory)})",
            suggestions=["work on smaller pieces", "or raise [security] max_memory in llmspell.toml"])

    def check_result(self, size: int, what: str = "the result") -> None:
        if size > self.max_result:
            raise self.too_big(what, size)

    def input_too_big(self, what: str, size: int, unit: str = "bytes") -> LLMSpellError:
        shown = human(size) if unit == "bytes" else f"{size:,} {unit}"
        want = human(max(size, self.max_file_size) * 2).replace(" ", "")
        return LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"{self.tool}: {what} is {shown}, over the {human(self.max_file_size)} limit (tools.max_file_size)",
            suggestions=[f'raise it in llmspell.toml: [tools] max_file_size = "{want}"'])

    def check_input(self, what: str, text: str) -> str:
        """Inline text a tool parses is held to tools.max_file_size like a file."""
        if len(text) > self.max_file_size:
            raise self.input_too_big(what, len(text), "characters")
        return text

    def _open(self, path: str) -> tuple[Any, int]:
        if self.ctx is None:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.tool}: reading files needs a run")
        p = check_path(self.ctx, path, self.tool, must_exist=True)
        try:
            st = os.stat(p)
        except OSError as e:
            raise LLMSpellError(Code.TOOL_RESOURCE_UNAVAILABLE, f"{self.tool}: cannot read '{path}': "
                                f"{e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.tool}: '{path}' is not a regular file")
        if st.st_size > self.max_file_size:
            raise self.input_too_big(f"'{path}'", st.st_size)
        return p, st.st_size

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """A file inside the allowed paths, refused when over tools.max_file_size."""
        p, _ = self._open(path)
        try:
            with open(p, encoding=encoding) as f:
                text = f.read(self.max_file_size + 1)   # a file that grew meanwhile is not read whole
        except LookupError:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.tool}: unknown encoding {encoding!r}") from None
        if len(text) > self.max_file_size:
            raise self.input_too_big(f"'{path}'", len(text), "characters")
        return text

    def read_chunks(self, path: str, size: int = 1 << 20) -> Any:
        """A file's bytes in chunks (same checks as read_text; ticks between chunks)."""
        p, _ = self._open(path)
        total = 0
        with open(p, "rb") as f:
            while chunk := f.read(size):
                total += len(chunk)
                if total > self.max_file_size:
                    raise self.input_too_big(f"'{path}'", total)
                self.check()
                yield chunk

    def measure(self, value: Any, what: str = "the result", limit: int | None = None) -> int:
        """Estimated bytes `value` takes in the spell, counting a table each time it
        is referenced (as converting it does): a structure whose parts are shared
        (YAML aliases, JMESPath `[@, @]`) costs what it expands to, computed without
        expanding it. Raises 4005 past `limit` (default: max_result), 2002 for a
        structure that contains itself, 2002 for one nested too deeply."""
        limit = self.max_result if limit is None else limit
        t = type(value)
        if t is str or t is float or t is bool or value is None or t is int and -(2**63) <= value < 2**63:
            n = _STR + len(value) if t is str else _SCALAR
            if n > limit:
                raise self.too_big(what, n)
            return n
        if (t is tuple or t is list) and len(value) <= 8:       # a few scalars: format arguments, rows
            n = _CONTAINER
            for x in value:
                tx = type(x)
                if tx is str:
                    n += _ITEM + _STR + len(x)
                elif tx is float or tx is bool or x is None or tx is int and -(2**63) <= x < 2**63:
                    n += _ITEM + _SCALAR
                else:
                    break
            else:
                if n > limit:
                    raise self.too_big(what, n)
                return n
        memo: dict[int, int] = {}
        busy: set[int] = set()

        def size(v: Any) -> int:
            t = type(v)
            if t is str or t is bytes:
                return _STR + len(v)
            if t is int:
                return _SCALAR + (v.bit_length() >> 3 if v > 2**63 or v < -(2**63) else 0)
            if t is float or t is bool or v is None:
                return _SCALAR
            key = id(v)
            got = memo.get(key)
            if got is not None:
                return got
            if key in busy:
                raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.tool}: {what} contains itself "
                                    "(a recursive reference), so it cannot be converted")
            busy.add(key)
            self.tick()
            n = _CONTAINER
            if isinstance(v, dict):
                for k, x in v.items():
                    n += _ENTRY + size(k) + size(x)
                    if n > limit:
                        raise self.too_big(what)
            elif isinstance(v, (list, tuple, set, frozenset)):
                for i, x in enumerate(v):
                    n += _ITEM + size(x)
                    if n > limit:
                        raise self.too_big(what)
                    if not i & 0xFFF:
                        self.tick()
            else:
                n = _STR + len(str(v))
            busy.discard(key)
            memo[key] = n
            return n

        try:
            total = size(value)
        except RecursionError:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{self.tool}: {what} is nested too deeply") from None
        if total > limit:
            raise self.too_big(what, total)
        return total


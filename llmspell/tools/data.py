"""Data tools: json_processor (JMESPath), csv_processor, yaml_processor.

Bounded like every tool (tools/bounds.py): the text they parse, a file or given
inline, is held to tools.max_file_size; parsing, queries and schema validation
check the spell's deadline as they go (schema `pattern`s run on `regex` with a
timeout); what they return is measured before it is (4005 when the spell could
not hold it) — YAML aliases and merge keys, and JMESPath's `[@, @]`, count as
what they expand to.
"""

from __future__ import annotations

import csv
import io
import json
import operator
import re
from contextvars import ContextVar
from typing import Any, Callable, Iterable, Iterator

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .bounds import Budget

_MAX_FILTER = 1000          # characters of a csv_processor filter
_MAX_QUERY = 10_000         # characters of a JMESPath query (parsed in Python, uninterruptibly)


def _deep_merge(a: Any, b: Any, budget: Budget | None = None) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        if budget is not None:
            budget.tick()
        out = dict(a)
        for k, v in b.items():
            out[k] = _deep_merge(out[k], v, budget) if k in out else v
        return out
    return b


def _load_input(inp: dict[str, Any], b: Budget) -> str | None:
    """The text of `path` / `file_path`, if given (refused over tools.max_file_size)."""
    path = inp.get("path") or inp.get("file_path")
    if path:
        return b.read_text(path, inp.get("encoding", "utf-8"))
    return None


# -- schema validation ---------------------------------------------------------------
# jsonschema's own keywords, each checking the deadline (a schema of nested anyOf/$ref can
# take exponential time), with `pattern`, `patternProperties` and `additionalProperties`
# on `regex` with a timeout and `uniqueItems` in linear time (jsonschema's falls back to
# comparing every pair).
_SCHEMA_BUDGET: ContextVar[Budget | None] = ContextVar("llmspell_schema_budget", default=None)
_BOUNDED_VALIDATORS: dict[type, type] = {}


def _rx_search(pattern: str, text: str) -> bool:
    import regex
    b = _SCHEMA_BUDGET.get() or Budget(None, "schema validation")
    with b.regex_guard(pattern, f"invalid regex {pattern!r} in the schema") as timeout:
        return regex.search(pattern, text, timeout=timeout) is not None


def _kw_pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError
    if validator.is_type(instance, "string") and not _rx_search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _kw_pattern_properties(validator: Any, pattern_properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for k, v in instance.items():
            if _rx_search(pattern, k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _kw_additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = "|".join(schema.get("patternProperties", {}))
    extras = {p for p in instance if p not in properties and not (patterns and _rx_search(patterns, p))}
    if validator.is_type(ap, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], ap, path=extra)
    elif not ap and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            listed = sorted(extras, key=str)
            yield ValidationError("Additional properties are not allowed (%s %s unexpected)" % (
                ", ".join(repr(extra) for extra in listed), "was" if len(listed) == 1 else "were"))


def _canon(x: Any) -> Any:
    """A hashable key equal for values JSON Schema calls equal (1 == 1.0, True != 1)."""
    if isinstance(x, bool) or x is None:
        return ("b", x)
    if isinstance(x, (int, float)):
        return ("n", x)
    if isinstance(x, str):
        return ("s", x)
    if isinstance(x, (list, tuple)):
        return ("l", tuple(_canon(i) for i in x))
    if isinstance(x, dict):
        return ("d", frozenset((k, _canon(v)) for k, v in x.items()))
    return ("o", repr(x))


def _kw_unique_items(validator: Any, ui: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError
    if ui and validator.is_type(instance, "array"):
        seen: set[Any] = set()
        for item in instance:
            key = _canon(item)
            if key in seen:
                yield ValidationError(f"{instance!r} has non-unique elements")
                return
            seen.add(key)


_OWN_KEYWORDS = {"pattern": _kw_pattern, "patternProperties": _kw_pattern_properties,
                 "additionalProperties": _kw_additional_properties, "uniqueItems": _kw_unique_items}


def _ticking(fn: Callable[..., Any]) -> Callable[..., Any]:
    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        b = _SCHEMA_BUDGET.get()
        if b is not None:
            b.tick()
        return fn(validator, value, instance, schema)
    return keyword


def _validate(schema: Any, data: Any, b: Budget) -> list[dict[str, Any]]:
    """jsonschema's errors for `data`, bounded (see above)."""
    import jsonschema
    base = jsonschema.validators.validator_for(schema)
    cls = _BOUNDED_VALIDATORS.get(base)
    if cls is None:
        keywords = {}
        for name, fn in base.VALIDATORS.items():
            own = _OWN_KEYWORDS.get(name)
            if own is not None and fn.__module__ == "jsonschema._keywords" and fn.__name__ == name:
                fn = own
            keywords[name] = _ticking(fn)
        cls = _BOUNDED_VALIDATORS[base] = jsonschema.validators.extend(base, keywords)
    token = _SCHEMA_BUDGET.set(b)
    try:
        errs = []
        for e in cls(schema).iter_errors(data):
            errs.append({"path": ".".join(map(str, e.absolute_path)), "message": e.message})
            b.tick()
        return errs
    except RecursionError:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"{b.tool}: the schema refers to itself without end "
                            "(or the data nests too deeply) to validate") from None
    finally:
        _SCHEMA_BUDGET.reset(token)


# -- JMESPath --------------------------------------------------------------------------
_JMES: list[Any] = []


def _jmespath(query: str, data: Any, b: Budget) -> Any:
    """jmespath.search, checking the deadline at every step; a list it builds may not
    pass what the spell can hold, nor may to_string() or join() texts."""
    import jmespath
    if len(query) > _MAX_QUERY:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"json_processor: the query is {len(query):,} characters "
                            f"long; at most {_MAX_QUERY:,}")
    if not _JMES:
        from jmespath import functions, visitor

        class Funcs(functions.Functions):
            t_budget: Budget

            @functions.signature({"types": []})
            def _func_to_string(self, arg: Any) -> Any:
                self.t_budget.measure(arg, "to_string()")
                return super()._func_to_string(arg)

            @functions.signature({"types": ["string"]}, {"types": ["array-string"]})
            def _func_join(self, separator: str, array: list[str]) -> str:
                self.t_budget.check_result(sum(map(len, array)) + len(separator) * len(array), "join()")
                return super()._func_join(separator, array)

        class Interp(visitor.TreeInterpreter):
            t_budget: Budget

            def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
                self.t_budget.tick()
                rv = super().visit(node, *args, **kwargs)
                if type(rv) is list and len(rv) * 16 > self.t_budget.max_result:
                    raise self.t_budget.too_big("a list the query built", len(rv) * 16)
                return rv
        _JMES.extend((Funcs, Interp, visitor.Options))
    funcs_cls, interp_cls, options = _JMES
    funcs = funcs_cls()
    funcs.t_budget = b
    interp = interp_cls(options(custom_functions=funcs))
    interp.t_budget = b
    try:
        result = interp.visit(jmespath.compile(query).parsed, data)
    except jmespath.exceptions.JMESPathError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"json_processor: invalid query {query!r}: {e}") from None
    b.measure(result, "the query's result")
    return result


@builtin("json_processor", "data", "Query (JMESPath), parse, stringify, validate or merge JSON", {
    "properties": {
        "operation": {"enum": ["query", "parse", "stringify", "validate", "merge", "keys"], "default": "query"},
        "input": {"description": "the data (a table) or JSON text"},
        "data": {"description": "alias of input"},
        "path": {"type": "string", "description": "read the JSON from this file"},
        "query": {"type": "string", "description": "a JMESPath expression, e.g. 'items[?price > `10`].name'"},
        "schema": {"type": "object"},
        "pretty": {"type": "boolean", "default": False},
    },
})
def json_processor(inp: dict[str, Any], ctx: ToolContext) -> Any:
    b = Budget(ctx, "json_processor")
    op = inp.get("operation", "query")
    data = inp.get("input", inp.get("data"))
    text = _load_input(inp, b)
    if text is not None:
        data = text
    if isinstance(data, str) and op != "stringify":
        if text is None:
            b.check_input("the JSON text in 'input'", data)
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise LLMSpellError(
                Code.TOOL_INVALID_INPUT, f"json_processor: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
            ) from None
    if op == "parse":
        b.measure(data, "the parsed JSON")
        return data
    if op == "stringify":
        b.measure(data, "the data")
        out = json.dumps(data, ensure_ascii=False, indent=2 if inp.get("pretty") else None)
        b.check_result(len(out), "the JSON text")
        return out
    if op == "keys":
        return (
            sorted(data)
            if isinstance(data, dict)
            else list(range(1, len(data) + 1)) if isinstance(data, list) else []
        )
    if op == "merge":
        if not isinstance(data, list):
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "json_processor: merge needs 'input' = an array of tables")
        out: Any = {}
        for d in data:
            out = _deep_merge(out, d, b)
            b.check()
        return out
    if op == "validate":
        if "schema" not in inp:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "json_processor: validate needs 'schema'")
        errs = _validate(inp["schema"], data, b)
        return {"valid": not errs, "errors": errs}
    if not inp.get("query"):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "json_processor: 'query' is required for the query operation",
                            suggestions=["query = 'items[0].name'"])
    return _jmespath(inp["query"], data, b)


_OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, ">=": operator.ge,
        "<=": operator.le, ">": operator.gt, "<": operator.lt}
_COND = re.compile(r"^\s*([\w .-]+?)\s*(==|!=|>=|<=|=|>|<|contains)\s*(.+?)\s*$")


def _num(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v
    return v


def _row_test(cond: Any) -> Callable[[dict[str, Any]], bool]:
    """A filter as a test on one row: { column = value } or 'column > 10'. The text is
    read once, when the first row is tested (as before: no rows, no error)."""
    if isinstance(cond, dict):
        return lambda row: all(str(row.get(k)) == str(v) for k, v in cond.items())
    parsed: list[Any] = []

    def test(row: dict[str, Any]) -> bool:
        if not parsed:
            text = str(cond)
            m = _COND.match(text) if len(text) <= _MAX_FILTER else None
            if not m:
                raise LLMSpellError(
                    Code.TOOL_INVALID_INPUT,
                    f"csv_processor: cannot read filter {cond!r}; use 'column > 10' or {{column = value}}"
                    if len(text) <= _MAX_FILTER else
                    f"csv_processor: the filter is {len(text):,} characters long; at most {_MAX_FILTER:,}",
                )
            col, op, raw = m.groups()
            parsed.extend((col, op, _num(raw.strip("'\""))))
        col, op, val = parsed
        cell = _num(row.get(col))
        if op == "contains":
            return str(val) in str(cell)
        try:
            return bool(_OPS[op](cell, val))
        except TypeError:
            return bool(_OPS[op](str(cell), str(val)))
    return test


class _Agg:
    """One aggregation over one group, added to a row at a time (the same sums, in the
    same order, as over the whole group at once)."""
    __slots__ = ("n", "total", "nums", "low", "high")

    def __init__(self) -> None:
        self.n = self.nums = 0
        self.total: Any = 0
        self.low: Any = None
        self.high: Any = None

    def add(self, v: Any) -> None:
        self.n += 1
        if isinstance(v, (int, float)):
            self.nums += 1
            self.total += v
            if self.low is None or v < self.low:
                self.low = v
            if self.high is None or v > self.high:
                self.high = v


def _aggregate(rows: Iterable[dict[str, Any]], group_by: str | None, aggs: list[str],
               b: Budget | None = None) -> list[dict[str, Any]]:
    b = b or Budget(None, "csv_processor")
    specs = [(a, *a.partition(":")[::2]) for a in aggs]
    groups: dict[Any, tuple[list[int], list[_Agg]]] = {}
    size = 0
    for r in rows:
        key = r.get(group_by) if group_by else None
        g = groups.get(key)
        if g is None:
            g = groups[key] = ([0], [_Agg() for _ in specs])
            size += 64 + len(str(key)) + 48 * len(specs)
            if size > b.max_result:
                raise b.too_big("the groups")
        g[0][0] += 1
        for (_, _, col), acc in zip(specs, g[1]):
            if col != "*" and r.get(col) not in (None, ""):
                acc.add(_num(r.get(col)))
        b.tick()
    out = []
    for key, (count, accs) in groups.items():
        rec: dict[str, Any] = {group_by: key} if group_by else {}
        for (a, fn, col), acc in zip(specs, accs):
            name = f"{fn}_{'all' if col in ('*', '') else col}"
            if fn == "count":
                rec[name] = count[0] if col in ("*", "") else acc.n
            elif fn == "sum":
                rec[name] = acc.total
            elif fn in ("avg", "mean"):
                rec[name] = acc.total / acc.nums if acc.nums else None
            elif fn == "min":
                rec[name] = acc.low
            elif fn == "max":
                rec[name] = acc.high
            else:
                raise LLMSpellError(
                    Code.TOOL_INVALID_INPUT, f"csv_processor: unknown aggregation {a!r} (count, sum, avg, min, max)"
                )
        out.append(rec)
    return out


def _row_cost(r: Any) -> int:
    """Estimated bytes of one parsed row in the spell."""
    if isinstance(r, dict):
        return 56 + sum(80 + len(k) + (len(v) if isinstance(v, str) else 0) for k, v in r.items())
    return 56 + sum(40 + (len(v) if isinstance(v, str) else 0) for v in r)


def _csv_rows(text: str, delim: str, headers: bool, convert: bool, b: Budget) -> Iterator[Any]:
    head = None
    for r in csv.reader(io.StringIO(text), delimiter=delim):
        b.tick()
        if headers and head is None:
            head = r
            continue
        row: Any = dict(zip(head, r)) if head is not None else r
        if convert:
            row = {k: _num(v) for k, v in row.items()} if isinstance(row, dict) else [_num(v) for v in row]
        yield row


def _collect(rows: Iterable[Any], b: Budget, counted: bool, what: str) -> list[Any]:
    if not counted:
        return list(rows)
    out, size = [], 0
    for r in rows:
        size += _row_cost(r)
        if size > b.max_result:
            raise b.too_big(what)
        out.append(r)
    return out


@builtin(
    "csv_processor",
    "data",
    "Read, parse, write, filter, sort and aggregate CSV data",
    {
        "properties": {
            "operation": {
                "enum": ["read", "parse", "write", "stringify", "filter", "aggregate", "sort"],
                "default": "parse",
            },
            "file_path": {"type": "string"},
            "path": {"type": "string"},
            "content": {"type": "string", "description": "CSV text"},
            "rows": {"type": "array", "description": "rows for write/filter/aggregate"},
            "headers": {"type": "boolean", "default": True},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "encoding": {"type": "string", "default": "utf-8"},
            "filter": {"description": "'amount > 1000' or { column = value }"},
            "group_by": {"type": "string"},
            "aggregations": {
                "type": "array",
                "items": {"type": "string"},
                "description": "e.g. 'sum:amount', 'count:*'",
            },
            "columns": {"type": "array", "items": {"type": "string"}, "description": "column order for write"},
            "sort_by": {"type": "string"},
            "descending": {"type": "boolean", "default": False},
            "convert_numbers": {"type": "boolean", "default": False},
        }
    },
)
def csv_processor(inp: dict[str, Any], ctx: ToolContext) -> Any:
    b = Budget(ctx, "csv_processor")
    op = inp.get("operation", "parse")
    delim = inp.get("delimiter", ",")
    if op in ("write", "stringify"):
        rows = inp.get("rows") or []
        buf = io.StringIO()
        if rows and isinstance(rows[0], dict):
            # Script tables have no key order: use `columns`, else sorted names.
            fields = inp.get("columns") or sorted({k for r in rows for k in r})
            b.check_result(len(rows) * len(fields) * 2, "the CSV text")     # rows × columns cells at least
            w = csv.DictWriter(buf, fieldnames=fields, delimiter=delim, lineterminator="\n", extrasaction="ignore")
            if inp.get("headers", True):
                w.writeheader()
            w.writerows(rows)
        else:
            csv.writer(buf, delimiter=delim, lineterminator="\n").writerows(rows)
        text = buf.getvalue()
        b.check_result(len(text), "the CSV text")
        target = inp.get("file_path") or inp.get("path")
        if op == "write" and target:
            from .fs import file_writer
            return file_writer({"path": target, "content": text}, ctx) | {"rows": len(rows)}
        return text
    given = inp.get("rows")
    rows: Iterable[Any]
    if given is None:
        text = _load_input(inp, b)
        where = f"the rows of '{inp.get('path') or inp.get('file_path')}'" if text is not None else "the rows"
        if text is None:
            text = inp.get("content")
            if text is not None:
                b.check_input("the CSV text in 'content'", text)
        if text is None:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "csv_processor: give 'file_path', 'content' or 'rows'")
        # rows are read one at a time; only what is kept (sorted or returned) is held
        rows = _csv_rows(text, delim, inp.get("headers", True), bool(inp.get("convert_numbers")), b)
    else:
        rows, where = given, "the rows"
    if inp.get("filter") is not None:
        test = _row_test(inp["filter"])
        rows = (r for r in rows if test(r))
    if inp.get("sort_by"):
        key = inp["sort_by"]
        rows = sorted(_collect(rows, b, given is None, where),
                      key=lambda r: (_num(r.get(key)) is None, _num(r.get(key))),
                      reverse=inp.get("descending", False))
    if op == "aggregate" or inp.get("aggregations"):
        return _aggregate(rows, inp.get("group_by"), inp.get("aggregations") or ["count:*"], b)
    return _collect(rows, b, given is None, where)


# -- YAML ----------------------------------------------------------------------------
_YAML: list[type] = []


def _yaml_classes() -> tuple[type, type]:
    """A safe loader that checks the deadline per node, refuses merge keys (<<) that
    multiply past what the spell can hold, and reads events with libyaml when it is
    there; a safe dumper that checks the deadline per node."""
    if _YAML:
        return _YAML[0], _YAML[1]
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class Checks:
        t_budget: Budget

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.t_budget.tick()
            return super().compose_node(parent, index)  # type: ignore[misc]

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            self.t_budget.tick()
            return super().construct_object(node, deep)  # type: ignore[misc]

        def flatten_mapping(self, node: Any) -> None:
            super().flatten_mapping(node)  # type: ignore[misc]
            if len(node.value) * 96 > self.t_budget.max_result:
                raise self.t_budget.too_big("a mapping merged with <<", len(node.value) * 96)

    try:
        from yaml._yaml import CParser

        class Loader(Checks, Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                CParser.__init__(self, stream)
                Composer.__init__(self)
                SafeConstructor.__init__(self)
                Resolver.__init__(self)
    except ImportError:         # PyYAML without libyaml
        class Loader(Checks, yaml.SafeLoader):  # type: ignore[no-redef]
            pass

    class Dumper(yaml.SafeDumper):
        t_budget: Budget

        def represent_data(self, data: Any) -> Any:
            self.t_budget.tick()
            return super().represent_data(data)

        def serialize_node(self, node: Any, parent: Any, index: Any) -> None:
            self.t_budget.tick()
            super().serialize_node(node, parent, index)

    _YAML.extend((Loader, Dumper))
    return Loader, Dumper


def _yaml_load(text: str, b: Budget) -> Any:
    loader_cls, _ = _yaml_classes()
    loader = loader_cls(text)
    loader.t_budget = b
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_dump(data: Any, b: Budget) -> str:
    _, dumper_cls = _yaml_classes()
    b.measure(data, "the data")
    out = io.StringIO()
    dumper = dumper_cls(out, sort_keys=False, allow_unicode=True)
    dumper.t_budget = b
    try:
        dumper.open()
        dumper.represent(data)
        dumper.close()
    finally:
        dumper.dispose()
    text = out.getvalue()
    b.check_result(len(text), "the YAML text")
    return text


@builtin("yaml_processor", "data", "Parse, generate or validate YAML", {
    "properties": {
        "operation": {"enum": ["parse", "stringify", "validate", "read", "write"], "default": "parse"},
        "content": {"type": "string"}, "input": {"description": "data to stringify/write, or YAML text"},
        "path": {"type": "string"}, "schema": {"type": "object"},
    },
})
def yaml_processor(inp: dict[str, Any], ctx: ToolContext) -> Any:
    import yaml
    b = Budget(ctx, "yaml_processor")
    op = inp.get("operation", "parse")
    if op in ("stringify", "write"):
        text = _yaml_dump(inp.get("input"), b)
        if op == "write":
            if not inp.get("path"):
                raise LLMSpellError(Code.TOOL_INVALID_INPUT, "yaml_processor: write needs 'path'")
            from .fs import file_writer
            return file_writer({"path": inp["path"], "content": text}, ctx)
        return text
    text = _load_input(inp, b)
    if text is None:
        text = inp.get("content", inp.get("input"))
        if isinstance(text, str):
            b.check_input("the YAML text", text)
    if not isinstance(text, str):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "yaml_processor: give YAML text in 'content' or a file in 'path'")
    try:
        data = _yaml_load(text, b)
    except yaml.YAMLError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"yaml_processor: invalid YAML: {e}") from None
    b.measure(data, "the YAML's data (aliases counted as what they repeat)")
    data = json.loads(json.dumps(data, default=str))  # dates etc. → plain values
    if op == "validate":
        schema = inp.get("schema") or {}
        errs = _validate(schema, data, b)
        return {"valid": not errs, "errors": errs, "data": data}
    return data

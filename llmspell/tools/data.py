"""Data tools: json_processor (JMESPath), csv_processor, yaml_processor."""

from __future__ import annotations

import csv
import io
import json
import operator
import re
from typing import Any

from ..core.tools import ToolContext
from ..errors import Code, LLMSpellError
from . import builtin
from .security import check_path


def _deep_merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _deep_merge(out[k], v) if k in out else v
        return out
    return b


def _load_input(inp: dict[str, Any], ctx: ToolContext, tool: str) -> Any:
    if inp.get("path") or inp.get("file_path"):
        p = check_path(ctx, inp.get("path") or inp.get("file_path"), tool, must_exist=True)
        return p.read_text(encoding=inp.get("encoding", "utf-8"))
    return None


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
    op = inp.get("operation", "query")
    data = inp.get("input", inp.get("data"))
    text = _load_input(inp, ctx, "json_processor")
    if text is not None:
        data = text
    if isinstance(data, str) and op != "stringify":
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise LLMSpellError(
                Code.TOOL_INVALID_INPUT, f"json_processor: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
            ) from None
    if op == "parse":
        return data
    if op == "stringify":
        return json.dumps(data, ensure_ascii=False, indent=2 if inp.get("pretty") else None)
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
            out = _deep_merge(out, d)
        return out
    if op == "validate":
        import jsonschema
        if "schema" not in inp:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "json_processor: validate needs 'schema'")
        v = jsonschema.validators.validator_for(inp["schema"])(inp["schema"])
        errs = [{"path": ".".join(map(str, e.absolute_path)), "message": e.message} for e in v.iter_errors(data)]
        return {"valid": not errs, "errors": errs}
    if not inp.get("query"):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "json_processor: 'query' is required for the query operation",
                            suggestions=["query = 'items[0].name'"])
    import jmespath
    try:
        return jmespath.search(inp["query"], data)
    except jmespath.exceptions.JMESPathError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"json_processor: invalid query {inp['query']!r}: {e}") from None


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


def _matches(row: dict[str, Any], cond: Any) -> bool:
    if isinstance(cond, dict):
        return all(str(row.get(k)) == str(v) for k, v in cond.items())
    m = _COND.match(str(cond))
    if not m:
        raise LLMSpellError(
            Code.TOOL_INVALID_INPUT,
            f"csv_processor: cannot read filter {cond!r}; use 'column > 10' or {{column = value}}",
        )
    col, op, raw = m.groups()
    val = _num(raw.strip("'\""))
    cell = _num(row.get(col))
    if op == "contains":
        return str(val) in str(cell)
    try:
        return bool(_OPS[op](cell, val))
    except TypeError:
        return bool(_OPS[op](str(cell), str(val)))


def _aggregate(rows: list[dict[str, Any]], group_by: str | None, aggs: list[str]) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.get(group_by) if group_by else None, []).append(r)
    out = []
    for key, grp in groups.items():
        rec: dict[str, Any] = {group_by: key} if group_by else {}
        for a in aggs:
            fn, _, col = a.partition(":")
            vals = [_num(r.get(col)) for r in grp if col != "*" and r.get(col) not in (None, "")]
            nums = [v for v in vals if isinstance(v, (int, float))]
            name = f"{fn}_{'all' if col in ('*', '') else col}"
            if fn == "count":
                rec[name] = len(grp) if col in ("*", "") else len(vals)
            elif fn == "sum":
                rec[name] = sum(nums)
            elif fn in ("avg", "mean"):
                rec[name] = sum(nums) / len(nums) if nums else None
            elif fn == "min":
                rec[name] = min(nums) if nums else None
            elif fn == "max":
                rec[name] = max(nums) if nums else None
            else:
                raise LLMSpellError(
                    Code.TOOL_INVALID_INPUT, f"csv_processor: unknown aggregation {a!r} (count, sum, avg, min, max)"
                )
        out.append(rec)
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
    op = inp.get("operation", "parse")
    delim = inp.get("delimiter", ",")
    if op in ("write", "stringify"):
        rows = inp.get("rows") or []
        buf = io.StringIO()
        if rows and isinstance(rows[0], dict):
            # Script tables have no key order: use `columns`, else sorted names.
            fields = inp.get("columns") or sorted({k for r in rows for k in r})
            w = csv.DictWriter(buf, fieldnames=fields, delimiter=delim, lineterminator="\n", extrasaction="ignore")
            if inp.get("headers", True):
                w.writeheader()
            w.writerows(rows)
        else:
            csv.writer(buf, delimiter=delim, lineterminator="\n").writerows(rows)
        text = buf.getvalue()
        target = inp.get("file_path") or inp.get("path")
        if op == "write" and target:
            from .fs import file_writer
            return file_writer({"path": target, "content": text}, ctx) | {"rows": len(rows)}
        return text
    rows = inp.get("rows")
    if rows is None:
        text = _load_input(inp, ctx, "csv_processor")
        if text is None:
            text = inp.get("content")
        if text is None:
            raise LLMSpellError(Code.TOOL_INVALID_INPUT, "csv_processor: give 'file_path', 'content' or 'rows'")
        reader = csv.reader(io.StringIO(text), delimiter=delim)
        data = list(reader)
        if inp.get("headers", True) and data:
            head = data[0]
            rows = [dict(zip(head, r)) for r in data[1:]]
        else:
            rows = data
        if inp.get("convert_numbers"):
            rows = [{k: _num(v) for k, v in r.items()} if isinstance(r, dict) else [_num(v) for v in r] for r in rows]
    if inp.get("filter") is not None:
        rows = [r for r in rows if _matches(r, inp["filter"])]
    if inp.get("sort_by"):
        rows = sorted(rows, key=lambda r: (_num(r.get(inp["sort_by"])) is None, _num(r.get(inp["sort_by"]))),
                      reverse=inp.get("descending", False))
    if op == "aggregate" or inp.get("aggregations"):
        return _aggregate(rows, inp.get("group_by"), inp.get("aggregations") or ["count:*"])
    return rows


@builtin("yaml_processor", "data", "Parse, generate or validate YAML", {
    "properties": {
        "operation": {"enum": ["parse", "stringify", "validate", "read", "write"], "default": "parse"},
        "content": {"type": "string"}, "input": {"description": "data to stringify/write, or YAML text"},
        "path": {"type": "string"}, "schema": {"type": "object"},
    },
})
def yaml_processor(inp: dict[str, Any], ctx: ToolContext) -> Any:
    import yaml
    op = inp.get("operation", "parse")
    if op in ("stringify", "write"):
        text = yaml.safe_dump(inp.get("input"), sort_keys=False, allow_unicode=True)
        if op == "write":
            if not inp.get("path"):
                raise LLMSpellError(Code.TOOL_INVALID_INPUT, "yaml_processor: write needs 'path'")
            from .fs import file_writer
            return file_writer({"path": inp["path"], "content": text}, ctx)
        return text
    text = _load_input(inp, ctx, "yaml_processor")
    if text is None:
        text = inp.get("content", inp.get("input"))
    if not isinstance(text, str):
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, "yaml_processor: give YAML text in 'content' or a file in 'path'")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LLMSpellError(Code.TOOL_INVALID_INPUT, f"yaml_processor: invalid YAML: {e}") from None
    data = json.loads(json.dumps(data, default=str))  # dates etc. → plain values
    if op == "validate":
        import jsonschema
        v = jsonschema.validators.validator_for(inp.get("schema") or {})(inp.get("schema") or {})
        errs = [{"path": ".".join(map(str, e.absolute_path)), "message": e.message} for e in v.iter_errors(data)]
        return {"valid": not errs, "errors": errs, "data": data}
    return data

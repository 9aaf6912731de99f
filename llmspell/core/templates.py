"""`{{path}}` templates in workflow step inputs.

A string that is exactly one template keeps the value's type (a table stays a
table); templates inside longer strings are rendered as text. A path that
does not resolve is an error naming the key and the step.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import Code, LLMSpellError

_ONE = re.compile(r"^\{\{\s*([^{}]+?)\s*\}\}$")
_ANY = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_MISSING = object()


def lookup(ctx: dict[str, Any], path: str, step: str) -> Any:
    node: Any = ctx
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and 1 <= int(part) <= len(node):
            node = node[int(part) - 1]      # 1-based, as in the spell
        else:
            where = ".".join(walked) or "the context"
            have = sorted(node)[:12] if isinstance(node, dict) else None
            raise LLMSpellError(
                Code.WORKFLOW_INVALID_DEFINITION,
                f"step '{step}': template {{{{{path}}}}} refers to missing key '{part}' " f"in {where}",
                suggestions=[f"keys there: {', '.join(map(str, have))}"] if have else [],
            )
        walked.append(part)
    return node


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return str(v)


def render(value: Any, ctx: dict[str, Any], step: str) -> Any:
    """Resolve templates in strings anywhere inside `value`."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        m = _ONE.match(value)
        if m:
            return lookup(ctx, m.group(1), step)
        return _ANY.sub(lambda mm: _text(lookup(ctx, mm.group(1), step)), value)
    if isinstance(value, dict):
        return {k: render(v, ctx, step) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ctx, step) for v in value]
    return value

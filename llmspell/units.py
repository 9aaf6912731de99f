"""Sizes and durations as people write them in config and tool input.

`parse_size("256MB")` → bytes, `parse_duration("5m")` → seconds. Plain numbers
pass through (bytes, seconds). Standard library only: imported on every start.
"""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_DUR = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
# patterns compile on first use (re caches them), not at import
_SIZE = r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*"
_DURATION = r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*"


def parse_size(v: Any) -> int:
    """'256MB' → bytes. Plain numbers are bytes."""
    if isinstance(v, bool):
        raise ValueError("expected a size like '256MB'")
    if isinstance(v, (int, float)):
        return int(v)
    m = re.fullmatch(_SIZE, str(v))
    if not m or m.group(2).lower() not in _UNITS | {"": 1}:
        raise ValueError("expected a size like '256MB', '1GiB' or a number of bytes")
    return int(float(m.group(1)) * _UNITS.get(m.group(2).lower(), 1))


def parse_duration(v: Any) -> float:
    """'300s', '5m', '250ms' → seconds. Plain numbers are seconds."""
    if isinstance(v, bool):
        raise ValueError("expected a duration like '30s'")
    if isinstance(v, (int, float)):
        return float(v)
    m = re.fullmatch(_DURATION, str(v))
    if not m:
        raise ValueError("expected a duration like '300s', '5m', '250ms' or a number of seconds")
    return float(m.group(1)) * _DUR[m.group(2) or "s"]

"""Cron expressions (cronsim) with time zones."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Iterator

from ..errors import Code, LLMSpellError


def zone(name: str | None, job: str = "") -> tzinfo | None:
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LLMSpellError(Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({job!r}): unknown time zone {name!r}",
                            suggestions=["use an IANA name such as 'Europe/Paris' or 'UTC'"]) from None


def check_cron(expr: str, job: str = "", tz: str | None = None) -> None:
    from cronsim import CronSim, CronSimError
    try:
        CronSim(expr, datetime.now(zone(tz, job)))
    except CronSimError as e:
        raise LLMSpellError(
            Code.SCRIPT_RUNTIME_ERROR, f"Scheduler.register({job!r}): invalid cron {expr!r}: {e}"
        ) from None


def fire_times(expr: str, start: datetime) -> Iterator[datetime]:
    """Fire times strictly after `start` (an aware datetime in the job's zone)."""
    from cronsim import CronSim
    return iter(CronSim(expr, start))

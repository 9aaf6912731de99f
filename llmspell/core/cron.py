"""Cron expressions (validated with cronsim)."""

from __future__ import annotations

from ..errors import LLMSpellError


def check_cron(expr: str, job: str = "") -> None:
    from cronsim import CronSim, CronSimError
    from datetime import datetime
    try:
        CronSim(expr, datetime.now())
    except CronSimError as e:
        raise LLMSpellError(4002, f"Scheduler.register({job!r}): invalid cron {expr!r}: {e}") from None

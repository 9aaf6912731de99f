"""Running coroutines together without orphaning any of them."""

from __future__ import annotations

import asyncio
from typing import Any


async def gather_or_cancel(aws: list[Any]) -> list[Any]:
    """Like asyncio.gather, but the first failure cancels the rest (and waits for
    them to finish cancelling) before it is raised as is."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

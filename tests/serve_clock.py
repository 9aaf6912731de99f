"""Test-only launcher: `llmspell serve TARGET…` with an injected clock that starts at
START, so a test reaches a cron time in seconds. The daemon itself never takes the
time from its environment; only code that embeds it passes a `Clock`.

    python tests/serve_clock.py START TARGET…      (in the project folder)
"""

from __future__ import annotations

import asyncio
import sys

from llmspell.cli.common import make_runtime
from llmspell.serve import Clock, Daemon


def main() -> None:
    start, targets = sys.argv[1], sys.argv[2:]
    rt = make_runtime()

    async def serve() -> None:
        try:
            await Daemon(rt, targets, clock=Clock(start)).run()
        finally:
            await rt.aclose()
    asyncio.run(serve())


if __name__ == "__main__":
    main()

"""The hard deadline of `llmspell run` and `exec`.

The spell's own limits are cooperative: the Lua instruction hook, asyncio
timeouts, QuickJS's interrupt. They give clean 4004 errors fast, but a single C
call (a pathological `string.find`), a hook a spell found a way around or a tool
stuck in Python never reaches them. This watchdog ends the process at the time
limit plus a grace, whatever the spell is doing.

Two layers, no subprocess: a Python thread (lupa and most blocking calls release
the GIL, so it runs) prints the usual one-line error and exits 1; if the GIL
itself is held (one huge C-level computation in Python), faulthandler's C timer
thread, which needs no GIL, ends the process with exit 1 a moment later.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from typing import IO, Any, Callable

GRACE = 1.0          # seconds past the limit before the watchdog acts
LAST_RESORT = 2.0    # and then seconds before faulthandler's GIL-free timer does


class HardDeadline:
    def __init__(self, seconds: float, on_expiry: Callable[[], Any], *, debug: bool = False) -> None:
        self.seconds = seconds
        self.on_expiry = on_expiry
        self.debug = debug
        self._done = threading.Event()
        self._sink: IO[str] | None = None

    def __enter__(self) -> "HardDeadline":
        if self.seconds <= 0 or self.seconds == float("inf"):
            return self
        threading.Thread(target=self._watch, name="llmspell-deadline", daemon=True).start()
        # No Python traceback for a user; under --debug, where it was stuck is useful.
        self._sink = sys.stderr if self.debug else open(os.devnull, "w")
        faulthandler.dump_traceback_later(self.seconds + GRACE + LAST_RESORT, exit=True, file=self._sink)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self._sink is not None:
            faulthandler.cancel_dump_traceback_later()
            if self._sink is not sys.stderr:
                self._sink.close()
            self._sink = None

    def _watch(self) -> None:
        if self._done.wait(self.seconds + GRACE):
            return
        try:
            sys.stdout.flush()
            self.on_expiry()
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            os._exit(1)

"""At most one emission per interval of event-loop time, for the GUI's event digests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Throttle:
    """Calls ``due`` at most once every ``interval`` seconds of loop time.

    :meth:`request` after a quiet spell runs ``due`` at once (on the next loop turn);
    under a steady stream of requests one call goes out per ``interval``. The owner
    calls :meth:`emitted` whenever it has emitted (from ``due`` or on its own).
    """

    def __init__(self, due: Callable[[], object], interval: float) -> None:
        self.interval = interval
        self._due = due
        self._loop = asyncio.get_running_loop()
        self._last_emit = float("-inf")  # loop time of the previous emission
        self._handle: asyncio.TimerHandle | None = None

    def request(self) -> None:
        """Run ``due`` as soon as the interval allows (once, however often asked)."""
        if self._handle is None:
            delay = max(0.0, self._last_emit + self.interval - self._loop.time())
            self._handle = self._loop.call_later(delay, self._fire)

    def cancel(self) -> None:
        """Forget a pending run."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def emitted(self) -> None:
        """The owner has just emitted: the next run waits a full interval from now."""
        self._last_emit = self._loop.time()

    def _fire(self) -> None:
        self._handle = None
        self._due()

"""The console's asyncio loop on the Qt thread: qasync's, able to hold "never" timers.

``asyncio.timeout(math.inf)`` (which the Dask client uses for every connection)
asks the loop for a callback at infinity; qasync turns every delay into a Qt timer
of whole milliseconds and fails with ``OverflowError`` on that, so nothing that
talks to a Dask scheduler could run in the GUI. A delay longer than a Qt timer can
hold (about 24 days) is returned as a handle that is never scheduled: cancelling it
works as usual, and it never fires, as "never" requires.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Callable
from typing import Any

import qasync

_QT_TIMER_MAX_S = (2**31 - 1) / 1000.0


class ConsoleEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if math.isinf(delay) or delay > _QT_TIMER_MAX_S:
            return asyncio.TimerHandle(math.inf, callback, args, self, context=context)
        handle: asyncio.TimerHandle = super().call_later(delay, callback, *args, context=context)
        return handle

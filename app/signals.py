"""Awaiting Qt signals from coroutines on the qasync loop.

Never spin a nested Qt event loop (``exec()``, ``processEvents()``) inside a
coroutine: it re-enters the asyncio loop. Await a future resolved by the
signal instead, as these helpers do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import SignalInstance


async def first_signal(signals: Mapping[str, SignalInstance]) -> tuple[str, tuple[Any, ...]]:
    """Wait until one of ``signals`` is emitted; return its key and arguments.

    Every temporary connection is removed before returning, also on cancellation
    (bound the wait with ``asyncio.timeout`` if it must not last forever).
    """
    future: asyncio.Future[tuple[str, tuple[Any, ...]]] = asyncio.get_running_loop().create_future()
    slots: list[tuple[SignalInstance, Callable[..., None]]] = []

    def make_slot(name: str) -> Callable[..., None]:
        def slot(*args: Any) -> None:
            if not future.done():
                future.set_result((name, args))

        return slot

    for name, signal in signals.items():
        slot = make_slot(name)
        signal.connect(slot)
        slots.append((signal, slot))
    try:
        return await future
    finally:
        for signal, slot in slots:
            # RuntimeError: the sender was destroyed meanwhile, nothing left to disconnect
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)


async def wait_signal(signal: SignalInstance) -> tuple[Any, ...]:
    """Wait for one emission of ``signal`` and return its arguments."""
    _, args = await first_signal({"signal": signal})
    return args

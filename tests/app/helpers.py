"""Helpers for GUI tests on the qasync loop (never qtbot.wait* inside a coroutine)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import shiboken6
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QWidget

from app.controller import ConsoleController
from chimera_engine.node import HeartNode
from chimera_engine.store.audit import AuditQuery
from chimera_engine.store.records import AuditEntry

ADMIN_NAME = "admin"
ADMIN_PASSWORD = "correct horse battery"
SIGNAL_TIMEOUT_S = 5.0


async def wait_signal(signal: SignalInstance, within: float = SIGNAL_TIMEOUT_S) -> tuple[Any, ...]:
    """Await the next emission of ``signal`` (its arguments); TimeoutError after ``within`` s."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def slot(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(slot)
    try:
        async with asyncio.timeout(within):
            return await future
    finally:
        signal.disconnect(slot)


async def audit_entries(node: HeartNode, action: str = "") -> list[AuditEntry]:
    """Entries persisted by the engine, newest first (read straight from the store)."""
    await node.security.audit.flush()
    return await node.security.audit.query(AuditQuery(action_prefix=action, limit=10_000))


def is_gone_or_hidden(widget: QWidget) -> bool:
    """True once ``widget`` is hidden or already deleted (``deleteLater`` ran)."""
    return not shiboken6.isValid(widget) or not widget.isVisible()


@contextlib.asynccontextmanager
async def running(controller: ConsoleController) -> AsyncIterator[asyncio.Task[int]]:
    """Run the application flow as a task; cancel and await it if the test leaves early."""
    task = asyncio.ensure_future(controller.run())
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

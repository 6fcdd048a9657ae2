"""Helpers for GUI tests on the qasync loop (never qtbot.wait* inside a coroutine)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QWidget

from app.controller import ConsoleController
from chimera_engine.audit.store import AuditQuery
from chimera_engine.node import HeartNode
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


GREETER_V1 = '''"""Greetings, for tests."""

from chimera_engine.tooling import tool


@tool(description="Say hello")
def greet(name: str) -> str:
    return f"hello {name}"


@tool(description="Fail on purpose when asked to")
def shout(text: str, fail: bool = False) -> str:
    if fail:
        raise ValueError("asked to fail")
    return text.upper()
'''


def greeter_source(greeting: str = "hello", extra: str = "") -> str:
    """A compatible variant of :data:`GREETER_V1` (same tools and signatures)."""
    return GREETER_V1.replace('f"hello {name}"', f'f"{greeting} {{name}}"') + extra


def make_workspace(root: Path, **modules: str) -> Path:
    """A workspace folder with ``tools/<name>.py`` for each keyword (default: greeter)."""
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    for name, source in (modules or {"greeter": GREETER_V1}).items():
        (tools / f"{name}.py").write_text(source, encoding="utf-8")
    return root


def workspace_env(root: Path, *, watch: bool = False) -> dict[str, str]:
    """``engine(**workspace_env(ws))`` runs the engine on workspace ``root``."""
    return {
        "CHIMERA_ENGINE__WORKSPACE": str(root),
        "CHIMERA_TOOLS__WATCH": "true" if watch else "false",
        # versions here are replaced within milliseconds; judge none of them unproven
        "CHIMERA_TOOLS__TRUST_AFTER": "0",
    }


async def wait_until(
    predicate: Callable[[], object], within: float = SIGNAL_TIMEOUT_S, what: str = ""
) -> None:
    """Poll ``predicate`` (widget or engine state) on the running loop until it is true.

    AssertionError after ``within`` seconds. Prefer :func:`wait_signal` when the
    signal cannot have fired before the wait starts.
    """
    step = 0.01
    for _ in range(int(within / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"timed out waiting for {what or predicate}")

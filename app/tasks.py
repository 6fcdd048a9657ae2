"""TaskRunner: runs the GUI's engine operations as owned tasks and reports their outcome.

Used by :class:`app.bridge.EngineBridge` (see :meth:`EngineBridge.run`). It keeps
a strong reference to every task, counts how many are running (busy), and turns
failures into an operator-facing message through ``on_error_shown``.

Threading: the event loop's thread only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from chimera_engine.errors import ChimeraError

log = logging.getLogger(__name__)

T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """One line for an operator: the engine's own message, or the exception's type and text."""
    if isinstance(exc, ChimeraError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TaskRunner:
    """``busy_changed(bool)`` fires when the first task starts and after the last one
    ended; ``show_error(title, message)`` shows a failure to the operator."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        busy_changed: Callable[[bool], object],
        show_error: Callable[[str, str], object],
    ) -> None:
        self._loop = loop
        self._busy_changed = busy_changed
        self._show_error = show_error
        self._tasks: set[asyncio.Task[Any]] = set()
        self._busy = 0

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def pending(self) -> int:
        return len(self._tasks)

    def tasks(self) -> list[asyncio.Task[Any]]:
        return list(self._tasks)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        on_success: Callable[[T], object] | None,
        on_error: Callable[[Exception], object] | None,
        title: str,
        *,
        busy: bool = True,
    ) -> asyncio.Task[T | None]:
        """``busy=False``: a background read that does not count as busy."""
        guarded = self._guard(coro, on_success, on_error, title)
        task = self._loop.create_task(guarded)
        self._tasks.add(task)
        if busy:
            self._set_busy(+1)
        task.add_done_callback(functools.partial(self._task_done, coro, busy))
        return task

    def _task_done(
        self, coro: Coroutine[Any, Any, Any], busy: bool, task: asyncio.Task[Any]
    ) -> None:
        self._tasks.discard(task)
        # A task cancelled before its first step never started ``coro``: close it so
        # it is not reported as "never awaited". A finished coroutine ignores close().
        coro.close()
        if busy:
            self._set_busy(-1)

    async def _guard(
        self,
        coro: Coroutine[Any, Any, T],
        on_success: Callable[[T], object] | None,
        on_error: Callable[[Exception], object] | None,
        title: str,
    ) -> T | None:
        try:
            result = await coro
        except Exception as exc:
            self._report(exc, on_error, title)
            return None
        if on_success is not None:
            try:
                on_success(result)
            except Exception as exc:
                self._report(exc, None, title)
        return result

    def _report(
        self, exc: Exception, on_error: Callable[[Exception], object] | None, title: str
    ) -> None:
        expected = isinstance(exc, ChimeraError)
        if not expected:
            log.error("%s: %s", title, describe_error(exc), exc_info=exc)
        if on_error is not None:
            try:
                on_error(exc)
            except Exception as handler_exc:
                log.error("error handler failed", exc_info=handler_exc)
                self._show_error(title, describe_error(handler_exc))
        if on_error is None or not expected:
            self._show_error(title, describe_error(exc))

    def _set_busy(self, delta: int) -> None:
        was = self._busy > 0
        self._busy += delta
        now = self._busy > 0
        if was != now:
            self._busy_changed(now)

    def clear(self) -> None:
        self._tasks.clear()

"""CodeWatcher: watchdog on the workspace's tools folder, debounced onto the event loop.

Editors save in bursts (a temporary file, a rename, several modify events);
the watcher waits until a module's file has been quiet for ``debounce``
seconds, then reports it once as ``changed`` or ``deleted``. Caches, hidden,
backup and temporary files are ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

ChangeCallback = Callable[[str, str], None]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: CodeWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                path = raw.decode() if isinstance(raw, bytes) else str(raw)
                self._watcher.notify_threadsafe(path)


class CodeWatcher:
    def __init__(
        self,
        directory: Path,
        module_for_path: Callable[[str], str | None],
        on_change: ChangeCallback,
        *,
        debounce: float = 0.05,
    ) -> None:
        self.directory = directory
        self._module_for_path = module_for_path
        self._on_change = on_change
        self.debounce = debounce
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self.events_seen = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.directory.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(self), str(self.directory), recursive=False)
        await self._loop.run_in_executor(None, observer.start)
        self._observer = observer

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        observer = self._observer
        self._observer = None
        if observer is not None:
            observer.stop()
            await asyncio.get_running_loop().run_in_executor(None, observer.join, 5)

    def notify_threadsafe(self, path: str) -> None:
        """Called from watchdog's thread for every raw event."""
        module = self._module_for_path(path)
        if module is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._touch, module)

    def _touch(self, module: str) -> None:
        self.events_seen += 1
        timer = self._timers.pop(module, None)
        if timer is not None:
            timer.cancel()
        assert self._loop is not None
        self._timers[module] = self._loop.call_later(self.debounce, self._fire, module)

    def _fire(self, module: str) -> None:
        self._timers.pop(module, None)
        exists = (self.directory / f"{module}.py").exists()
        self._on_change(module, "changed" if exists else "deleted")

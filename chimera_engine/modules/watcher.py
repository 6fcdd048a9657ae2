"""CodeWatcher: watchdog on the workspace's tools folder, settled into change sets.

People change a workspace in bursts: an editor's save (a temporary file, a
rename, several writes), a ``git checkout`` or a rebase over many files, a
formatter over the tree. The watcher gathers every module touched in a burst
into one change set and reports it once the whole burst has settled:

* no event for ``settle`` seconds on any file of the set;
* no file of the set still open for writing (a ``modified`` event not yet
  followed by the writer's close; a rename into place counts as a close),
  for at most ``max_wait`` seconds, for writers that never close;
* a module never seen before (no version yet) waits ``new_settle`` seconds from
  its first event, so a temporary ``.py`` that is written and renamed away
  within that time is never imported;
* a file that looks incomplete next to its serving version (``screen`` says
  why, see :mod:`~chimera_engine.modules.suspect`) waits ``suspect_settle``
  seconds after its last event, so a writer that closes the file between two
  steps is not served half-written; ordinary saves keep the short window.

Files that are not modules (see :func:`chimera_engine.modules.ignore.module_for_event`)
never start or extend a set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

ChangeSetCallback = Callable[["ChangeSet"], None]
#: modules whose file exists -> {module: why it looks incomplete} for the suspicious ones
Screen = Callable[[list[str]], Awaitable[dict[str, str]]]


@dataclass(frozen=True, kw_only=True)
class ChangeSet:
    """Modules whose file now exists (``changed``) and known modules whose file is gone."""

    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    events: int


@dataclass
class _Pending:
    first: float
    last: float
    writing: bool = False
    events: int = 0


@dataclass
class _Burst:
    modules: dict[str, _Pending] = field(default_factory=dict)
    started: float = 0.0


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: CodeWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        src = _text(event.src_path)
        if event.event_type == "moved":
            self._watcher.notify_threadsafe(src, "moved_away")
            self._watcher.notify_threadsafe(_text(event.dest_path), "closed")
        else:
            self._watcher.notify_threadsafe(src, event.event_type)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class CodeWatcher:
    def __init__(
        self,
        directory: Path,
        module_for_path: Callable[[str], str | None],
        on_change_set: ChangeSetCallback,
        *,
        is_known: Callable[[str], bool] = lambda _m: True,
        settle: float = 0.05,
        new_settle: float = 1.0,
        max_wait: float = 2.0,
        screen: Screen | None = None,
        suspect_settle: float = 1.0,
    ) -> None:
        self.directory = directory
        self._module_for_path = module_for_path
        self._on_change_set = on_change_set
        self._is_known = is_known
        self.settle = settle
        self.new_settle = new_settle
        self.max_wait = max_wait
        self._screen = screen
        self.suspect_settle = suspect_settle
        self._screening: asyncio.Task[None] | None = None
        #: module -> why its latest content was held back for the longer window
        self.held_back: dict[str, str] = {}
        self._burst = _Burst()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self.events_seen = 0
        self.sets_reported = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.directory.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(self), str(self.directory), recursive=False)
        await self._loop.run_in_executor(None, observer.start)
        self._observer = observer

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._screening is not None:
            self._screening.cancel()
            self._screening = None
        self._burst = _Burst()
        observer = self._observer
        self._observer = None
        if observer is not None:
            observer.stop()
            await asyncio.get_running_loop().run_in_executor(None, observer.join, 5)

    def notify_threadsafe(self, path: str, kind: str) -> None:
        """Called from watchdog's thread for every raw event."""
        module = self._module_for_path(path)
        if module is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._touch, module, kind)

    def _touch(self, module: str, kind: str) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self.events_seen += 1
        if not self._burst.modules:
            self._burst.started = now
        pending = self._burst.modules.setdefault(module, _Pending(first=now, last=now))
        pending.last = now
        pending.events += 1
        if kind in ("modified", "created"):
            pending.writing = True
        elif kind in ("closed", "deleted", "moved_away"):
            pending.writing = False
        self._arm(self.settle)

    def _arm(self, delay: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, self._check)

    def _check(self) -> None:
        """Report the burst if it has settled; otherwise look again when it might have."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        wait = 0.0
        for module, p in self._burst.modules.items():
            wait = max(wait, p.last + self.settle - now)
            if p.writing:
                wait = max(wait, min(p.last + self.max_wait, now + self.settle) - now)
            if not self._is_known(module):
                wait = max(wait, p.first + self.new_settle - now)
        if wait > 1e-3 and now - self._burst.started < self._cap():
            self._arm(wait)
            return
        if self._screen is not None and now - self._burst.started < self._cap():
            if self._screening is None:
                self._screening = self._loop.create_task(self._screened())
            return
        self._report()

    def _cap(self) -> float:
        """A burst is reported at the latest this long after its first event."""
        return self.max_wait + max(self.new_settle, self.suspect_settle)

    async def _screened(self) -> None:
        """Report the settled burst unless a file looks incomplete and has not yet been
        quiet for ``suspect_settle``; then look again when it will have been."""
        assert self._loop is not None and self._screen is not None
        seen = self.events_seen
        try:
            present = [m for m in self._burst.modules if (self.directory / f"{m}.py").is_file()]
            reasons = await self._screen(present) if present else {}
        finally:
            self._screening = None
        if self._timer is not None or not self._burst.modules:
            return  # new events meanwhile: their timer decides
        if self.events_seen != seen:
            self._arm(0.0)  # what was screened may be stale: look again
            return
        now = self._loop.time()
        wait = 0.0
        for module, why in reasons.items():
            pending = self._burst.modules.get(module)
            if pending is None:
                continue
            left = pending.last + self.suspect_settle - now
            if left > 1e-3:
                if self.held_back.get(module) != why:
                    log.info(
                        "%s looks incomplete (%s); it loads once quiet for %g s",
                        module,
                        why,
                        self.suspect_settle,
                    )
                self.held_back[module] = why
                wait = max(wait, left)
        if wait > 1e-3 and now - self._burst.started < self._cap():
            self._arm(wait)
            return
        self._report()

    def _report(self) -> None:
        burst, self._burst = self._burst, _Burst()
        for module in burst.modules:
            self.held_back.pop(module, None)
        changed: list[str] = []
        deleted: list[str] = []
        for module in sorted(burst.modules):
            if (self.directory / f"{module}.py").is_file():
                changed.append(module)
            elif self._is_known(module):
                deleted.append(module)
            # an unknown module that came and went (a temporary file) is forgotten
        if changed or deleted:
            self.sets_reported += 1
            events = sum(p.events for p in burst.modules.values())
            self._on_change_set(
                ChangeSet(changed=tuple(changed), deleted=tuple(deleted), events=events)
            )

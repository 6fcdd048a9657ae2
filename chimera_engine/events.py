"""Typed engine events and the asynchronous event bus that carries them.

Events are frozen dataclasses. Publishing never waits: each subscriber has its
own queue. Events whose class sets ``droppable = True`` (high-volume samples)
may be coalesced when a subscriber falls behind: the oldest droppable events
are discarded and counted in :attr:`Subscription.dropped`. All other events
(audit entries, patch and user changes, engine state) are never dropped.

>>> import asyncio
>>> async def demo() -> str:
...     bus = EventBus()
...     sub = bus.subscribe(EngineStateChanged)
...     bus.publish(EngineStateChanged(state="running"))
...     event = await sub.get()
...     sub.close()
...     return event.state
>>> asyncio.run(demo())
'running'
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from chimera_engine.store.records import AuditEntry, UserRecord

if TYPE_CHECKING:
    from chimera_engine.anomaly.engine import AnomalyEvent, PredictiveAlert
    from chimera_engine.modules.models import CallRecord, ReloadResult

E = TypeVar("E", bound="Event")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every engine event. ``ts`` is wall-clock seconds since the epoch."""

    droppable: ClassVar[bool] = False
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class EngineStateChanged(Event):
    """The node moved to ``state`` (starting, running, stopping, stopped, failed)."""

    state: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class AuditAppended(Event):
    """An audit entry was persisted."""

    entry: AuditEntry


@dataclass(frozen=True, kw_only=True)
class AuditTampered(Event):
    """The audit log disagrees with its anchor; nothing more is chained onto it."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class UserChanged(Event):
    """A user was created, updated, locked or disabled."""

    user: UserRecord
    change: str


@dataclass(frozen=True, kw_only=True)
class LoopLagSampled(Event):
    """Loop-lag statistics over the last reporting window, in milliseconds."""

    droppable: ClassVar[bool] = True
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


@dataclass(frozen=True, kw_only=True)
class ServiceFailed(Event):
    """A background service of the node raised; the node keeps running without it."""

    service: str
    error: str


@dataclass(frozen=True, kw_only=True)
class ToolCallCompleted(Event):
    """A tool call finished (any outcome). High volume: may be coalesced."""

    droppable: ClassVar[bool] = True
    record: CallRecord


@dataclass(frozen=True, kw_only=True)
class ModuleReloaded(Event):
    """A reload attempt finished; ``result.ok`` says whether a new version is active."""

    result: ReloadResult


@dataclass(frozen=True, kw_only=True)
class VersionChanged(Event):
    """A module version changed state (activated, deprecated, retired, drained, failed)."""

    module: str
    version: int
    state: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ModuleFileDeleted(Event):
    """A module's file disappeared; its active version keeps serving from memory."""

    module: str
    version: int | None


@dataclass(frozen=True, kw_only=True)
class PatchAttemptRecorded(Event):
    """A model was asked for a patch of ``module`` and its answer judged: ``verdict``
    is one of :data:`chimera_engine.patches.attempts.VERDICTS` (``passed`` = usable)."""

    attempt_id: int
    module: str
    number: int
    verdict: str
    reason: str = ""
    patch_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class PatchProgress(Event):
    """An answer for ``module`` is streaming in: ``pieces`` (about one token each) and
    ``chars`` so far, ``elapsed_s`` since the attempt began. Sent at most a few times a
    second; may be dropped under load."""

    droppable: ClassVar[bool] = True
    module: str
    attempt: int
    chars: int
    pieces: int
    elapsed_s: float


@dataclass(frozen=True, kw_only=True)
class PatchChanged(Event):
    """A patch entered ``state`` (proposed, testing, ready, rejected, approved, applied,
    kept, rolled_back); ``reason`` says why for refusals and rollbacks."""

    patch_id: int
    module: str
    state: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AnomalyDetected(Event):
    """A metric raised an anomaly (after cooldown: one incident, one event)."""

    anomaly_id: int
    event: AnomalyEvent


@dataclass(frozen=True, kw_only=True)
class AnomalyAcknowledged(Event):
    anomaly_id: int
    actor: str


@dataclass(frozen=True, kw_only=True)
class FailurePredicted(Event):
    """A forecast says a metric will cross one of its thresholds soon."""

    alert: PredictiveAlert


@dataclass(frozen=True, kw_only=True)
class IncidentChanged(Event):
    """An incident (one episode of a tool, agent or metric) was ``opened`` or ``resolved``
    (``by``: "auto" when it went back to normal, else the operator who closed it)."""

    incident_id: int
    subject: str
    state: str
    by: str = ""


@dataclass(frozen=True, kw_only=True)
class PredictionWithdrawn(Event):
    """A standing prediction no longer holds (``reason``: why, in a few words)."""

    alert: PredictiveAlert
    reason: str


@dataclass(frozen=True, kw_only=True)
class HealthChanged(Event):
    """Metacognition's view of a tool version moved: its ``state`` (healthy,
    degraded, failing) changed, or its confidence in [0, 1] moved by a tenth or
    more. ``reason`` names the main evidence."""

    tool: str
    module: str
    version: int
    state: str
    confidence: float
    previous_confidence: float
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class LearningRequested(Event):
    """Metacognition asked the code generator for a fix of ``module`` v``version``
    (preventive learning). ``trigger`` is failure_pattern, low_confidence, latency,
    forecast or anomaly; ``evidence`` summarises what was attached to the request."""

    module: str
    version: int
    tool: str
    trigger: str
    reason: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LearningFinished(Event):
    """A learning request ended. ``outcome`` is kept, rolled_back, rejected,
    superseded, no_patch or error; ``backoff_until`` (epoch seconds) is set when the
    module now waits before the next request."""

    module: str
    version: int
    outcome: str
    patch_id: int | None = None
    reason: str = ""
    backoff_until: float | None = None


@dataclass(frozen=True, kw_only=True)
class LearningDeferred(Event):
    """A trigger fired but no request was made: one is open, the module is backing
    off, or the hourly budget is spent (published once per module and cause)."""

    module: str
    trigger: str
    reason: str
    until: float | None = None


class Subscription:
    """One subscriber's queue. Iterate it, or ``await get()``; ``close()`` when done."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self.maxsize = maxsize
        self._items: deque[Event] = deque()
        self._droppable_count = 0
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self.closed = False

    def wants(self, event: Event) -> bool:
        return isinstance(event, self.types)

    def _push(self, event: Event) -> None:
        if self.closed:
            return
        if event.droppable:
            if self._droppable_count >= self.maxsize:
                self._drop_oldest_droppable()
            self._droppable_count += 1
        self._items.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drop_oldest_droppable(self) -> None:
        for index, queued in enumerate(self._items):
            if queued.droppable:
                del self._items[index]
                self._droppable_count -= 1
                self.dropped += 1
                return

    def __len__(self) -> int:
        return len(self._items)

    def get_nowait(self) -> Event | None:
        if not self._items:
            return None
        event = self._items.popleft()
        if event.droppable:
            self._droppable_count -= 1
        return event

    async def get(self) -> Event:
        """Wait for the next event. Raises ``asyncio.CancelledError`` if closed meanwhile."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self.closed:
                raise asyncio.CancelledError("subscription closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while not self.closed or self._items:
            try:
                yield await self.get()
            except asyncio.CancelledError:
                if self.closed:
                    return
                raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._remove(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()


class EventBus:
    """Fan-out of events to subscribers. Not thread-safe: publish from the loop thread.

    Use :meth:`publish_threadsafe` from other threads.
    """

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self.published = 0

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """Subscribe to events of ``types`` (all events when none are given)."""
        sub = Subscription(self, types or (Event,), maxsize)
        self._subs.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every interested subscriber without waiting."""
        self.published += 1
        for sub in tuple(self._subs):
            if sub.wants(event):
                sub._push(event)

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, event: Event) -> None:
        loop.call_soon_threadsafe(self.publish, event)

    def add_handler(
        self,
        handler: Callable[[Any], Awaitable[None]],
        *types: type[Event],
        maxsize: int = 1000,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Subscription:
        """Run ``handler`` for each matching event in its own task, in order.

        A handler that raises is reported through ``on_error`` and keeps receiving.
        """
        sub = self.subscribe(*types, maxsize=maxsize)

        async def pump() -> None:
            async for event in sub:
                try:
                    await handler(event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if on_error is not None:
                        on_error(exc)

        task = asyncio.get_running_loop().create_task(pump(), name=f"event-handler-{handler!r}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        return sub

    def subscriber_count(self) -> int:
        return len(self._subs)

    async def aclose(self) -> None:
        """Close every subscription and wait for handler tasks to end."""
        for sub in tuple(self._subs):
            sub.close()
        handlers = tuple(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

"""Tool-call counts per module version, aggregated and throttled for the GUI.

The engine publishes one :class:`~chimera_engine.events.ToolCallCompleted` per
call, which can be thousands per second. :class:`CallAggregator` adds them up
per ``(module, version)`` and hands out one :class:`CallSummary` at most every
``interval`` seconds, so widgets redraw a few times per second whatever the load.

Threading: use it on the event loop's thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.shared.throttle import Throttle
from chimera_engine.modules.models import CallRecord

#: At most this many summaries per second (the panel redraws at this rate).
SUMMARIES_PER_SECOND = 4.0

VersionKey = tuple[str, int]


@dataclass(frozen=True)
class CallCount:
    """Calls finished and how many of them failed (error, timeout or cancelled).

    >>> CallCount(8, 2) + CallCount(2, 0)
    CallCount(calls=10, errors=2)
    >>> CallCount(10, 2).error_rate
    0.2
    """

    calls: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    def __add__(self, other: CallCount) -> CallCount:
        return CallCount(self.calls + other.calls, self.errors + other.errors)


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """Calls that finished since the previous summary, per ``(module, version)``.

    ``counts`` are increments, not totals: add them to totals read from the engine.
    ``started``/``ended`` are wall-clock seconds bounding the window.
    """

    counts: Mapping[VersionKey, CallCount] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    @property
    def calls(self) -> int:
        return sum(c.calls for c in self.counts.values())

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.counts.values())


class CallAggregator:
    """Counts call records and emits a :class:`CallSummary` at most every ``interval`` s.

    The first record after a quiet spell is reported after at most ``interval``;
    under a steady stream one summary goes out per ``interval``. :meth:`flush`
    emits what is pending at once; :meth:`close` cancels the pending emission.
    """

    def __init__(
        self,
        emit: Callable[[CallSummary], object],
        *,
        interval: float = 1.0 / SUMMARIES_PER_SECOND,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._throttle = Throttle(self.flush, interval)
        self._emit = emit
        self._clock = clock
        self._calls: dict[VersionKey, int] = {}
        self._errors: dict[VersionKey, int] = {}
        self._started = 0.0
        self.summaries = 0

    @property
    def pending(self) -> int:
        """Calls counted but not reported yet."""
        return sum(self._calls.values())

    def add(self, record: CallRecord) -> None:
        key = (record.module, record.version)
        if not self._calls:
            self._started = self._clock()
        self._calls[key] = self._calls.get(key, 0) + 1
        if record.outcome != "ok":
            self._errors[key] = self._errors.get(key, 0) + 1
        self._throttle.request()

    def flush(self) -> CallSummary | None:
        """Emit (and return) the pending summary now; ``None`` when nothing is pending."""
        self._throttle.cancel()
        if not self._calls:
            return None
        counts = {
            key: CallCount(calls, self._errors.get(key, 0)) for key, calls in self._calls.items()
        }
        summary = CallSummary(counts=counts, started=self._started, ended=self._clock())
        self._calls = {}
        self._errors = {}
        self._throttle.emitted()
        self.summaries += 1
        self._emit(summary)
        return summary

    def close(self) -> None:
        """Drop whatever is pending; nothing is emitted afterwards unless :meth:`add` runs."""
        self._throttle.cancel()
        self._calls = {}
        self._errors = {}

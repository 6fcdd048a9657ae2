"""Loop-lag monitor: how late the event loop wakes up for a timer.

A lag of more than a few milliseconds means something is blocking the loop
(and, in the console, freezing the GUI). The monitor arms a timer every
``interval`` seconds, measures how late each one ran, and every
``report_every`` seconds publishes a :class:`LoopLagSampled` event (percentiles
of the last ``window_s`` seconds) and updates the Prometheus metrics.

Each probe wakes the loop (in the console that is the GUI thread, ~0.2-0.4 ms of
CPU per wake-up through Qt): ten a second is enough to see any stall of 100 ms or
more at once and to estimate the percentiles of shorter ones; the default is
``engine.loop_lag_interval`` (0.1 s).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from chimera_engine.events import EventBus, LoopLagSampled
from chimera_engine.metrics.exporter import EngineMetrics


@dataclass(frozen=True)
class LagStats:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    """
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


class LoopLagMonitor:
    def __init__(
        self,
        bus: EventBus,
        metrics: EngineMetrics | None = None,
        *,
        interval: float = 0.1,
        report_every: float = 1.0,
        window_s: float = 30.0,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self.interval = interval
        self.report_every = report_every
        #: The latest samples, ``window_s`` seconds' worth: what the percentiles cover.
        self.window_samples = max(10, round(window_s / max(interval, 1e-3)))
        self._samples: deque[float] = deque(maxlen=self.window_samples)
        self.last: LagStats = LagStats(0.0, 0.0, 0.0, 0)

    def stats(self) -> LagStats:
        values = sorted(self._samples)
        if not values:
            return LagStats(0.0, 0.0, 0.0, 0)
        return LagStats(
            p50_ms=percentile(values, 0.5) * 1e3,
            p99_ms=percentile(values, 0.99) * 1e3,
            max_ms=values[-1] * 1e3,
            samples=len(values),
        )

    async def run(self) -> None:
        """Measure until cancelled.

        Each probe is a plain timer callback that re-arms itself: one wake-up of the
        loop per ``interval`` (a sleeping task would cost a second hop, the task's
        resumption, for the same measurement)."""
        loop = asyncio.get_running_loop()
        next_report = loop.time() + self.report_every
        handle: asyncio.TimerHandle | None = None

        def probe(due: float) -> None:
            nonlocal handle, next_report
            now = loop.time()
            lag = max(0.0, now - due)
            self._samples.append(lag)
            if self._metrics is not None:
                self._metrics.loop_lag.observe(lag)
            if now >= next_report:
                next_report = now + self.report_every
                self._report()
            handle = loop.call_at(now + self.interval, probe, now + self.interval)

        start = loop.time()
        handle = loop.call_at(start + self.interval, probe, start + self.interval)
        try:
            await loop.create_future()  # until cancelled
        finally:
            handle.cancel()

    def _report(self) -> None:
        self.last = self.stats()
        if self._metrics is not None:
            self._metrics.loop_lag_p99.set(self.last.p99_ms / 1e3)
        self._bus.publish(
            LoopLagSampled(
                p50_ms=self.last.p50_ms,
                p99_ms=self.last.p99_ms,
                max_ms=self.last.max_ms,
                samples=self.last.samples,
            )
        )

"""Loop-lag monitor: how late the event loop wakes up for a timer.

A lag of more than a few milliseconds means something is blocking the loop
(and, in the console, freezing the GUI). The monitor sleeps ``interval``
seconds in a loop, measures how late each wake-up was, and every
``report_every`` seconds publishes a :class:`LoopLagSampled` event and updates
the Prometheus metrics.
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
        interval: float = 0.05,
        report_every: float = 1.0,
        window: int = 600,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self.interval = interval
        self.report_every = report_every
        self._samples: deque[float] = deque(maxlen=window)
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
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        next_report = loop.time() + self.report_every
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - start - self.interval)
            self._samples.append(lag)
            if self._metrics is not None:
                self._metrics.loop_lag.observe(lag)
            if loop.time() >= next_report:
                next_report = loop.time() + self.report_every
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

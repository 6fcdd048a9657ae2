"""LiveMetrics: a read-only view of the metric ring buffers for a console in the same process.

The console's dashboard redraws about ten times a second; an authorised facade
call per chart per frame would cost more than the drawing. The process that
embeds the engine therefore hands its console this view: it reads the
:class:`~chimera_engine.metrics.hub.MetricsHub` directly and can change
nothing. Whoever holds it decides who may see the data (the console checks
``metrics.read`` for the signed-in user); every change still goes through the
facade.

Threading: call it on the event loop's thread only (the thread that writes the
buffers). Costs with a 1,000-sample buffer: :meth:`window` ~20 us (a numpy
copy), :meth:`forecast` 1-2 ms (a model fit).

Importing this module imports no numpy: the detectors load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from chimera_engine.anomaly.engine import PredictiveAlert
    from chimera_engine.anomaly.forecast import Forecast
    from chimera_engine.metrics.hub import MetricInfo, MetricsHub
    from chimera_engine.metrics.settings import MetricSettings

    Array = npt.NDArray[np.float64]

__all__ = ["LiveMetrics", "Revision"]


@dataclass(frozen=True)
class Revision:
    """Identifies the content of a buffer: equal revisions hold the same samples."""

    samples: int
    last_t: float


class LiveMetrics:
    def __init__(self, hub: MetricsHub) -> None:
        self._hub = hub

    def metrics(self) -> list[MetricInfo]:
        """Every metric the engine tracks, sorted by key."""
        return self._hub.metrics()

    def exists(self, key: str) -> bool:
        return self._hub.engine.buffer(key) is not None

    def revision(self, key: str) -> Revision | None:
        status = self._hub.engine.status(key)
        return None if status is None else Revision(status.samples, status.last_t)

    def span(self, key: str) -> tuple[float, float] | None:
        """Time of the oldest and newest sample held (None: nothing held)."""
        buffer = self._hub.engine.buffer(key)
        if buffer is None or len(buffer) == 0:
            return None
        ts, _ = buffer.latest(len(buffer))
        return float(ts[0]), float(ts[-1])

    def window(self, key: str, since: float) -> tuple[Array, Array] | None:
        """Samples with ``t >= since`` (epoch seconds, values), oldest first; None when
        ``key`` is unknown."""
        buffer = self._hub.engine.buffer(key)
        return None if buffer is None else buffer.window(since)

    def latest(self, key: str, n: int) -> tuple[Array, Array] | None:
        """The newest ``n`` samples (timestamps, values), oldest first; None when unknown."""
        buffer = self._hub.engine.buffer(key)
        return None if buffer is None else buffer.latest(n)

    def thresholds(self, key: str) -> list[float]:
        """The alert thresholds the engine's forecasts watch for ``key``."""
        return self._hub.engine.thresholds(key)

    def settings(self, key: str) -> MetricSettings:
        """The detector, sensitivity and thresholds an operator set for ``key``."""
        return self._hub.settings(key)

    def forecast(self, key: str, horizon: int) -> Forecast | None:
        """A forecast ``horizon`` sample steps ahead (None without enough data)."""
        return self._hub.engine.forecast(key, horizon)

    def predictions(self) -> list[PredictiveAlert]:
        """Failure predictions the engine made so far, oldest first (a copy)."""
        return list(self._hub.predictions)

    @property
    def alert_threshold(self) -> float:
        """The anomaly score at which the detectors raise an alert by default."""
        return self._hub.engine.config.alert_threshold

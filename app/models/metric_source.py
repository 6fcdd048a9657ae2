"""Live metric data for the dashboard, read straight from the engine's ring buffers.

The dashboard redraws about ten times a second; an authorised facade call per
chart per frame would cost more than the drawing. So the panel checks once
that the signed-in user may read metrics (``metrics.read``) and then reads the
:class:`~chimera_engine.metrics.hub.MetricsHub` directly, on the loop thread
(the only thread that writes the buffers), at its own pace. Every change to
engine state still goes through the facade (:mod:`app.actions.metrics`).

Costs (1,000-sample buffer): :meth:`MetricSource.window` ~20 us (a numpy copy),
:meth:`MetricSource.forecast` 1-2 ms (a model fit): call it rarely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.engine import PredictiveAlert
from chimera_engine.anomaly.forecast import Forecast
from chimera_engine.metrics.hub import MetricInfo, MetricsHub
from chimera_engine.metrics.settings import MetricSettings
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

Array = npt.NDArray[np.float64]

#: Forecasts reach this fraction of the shown time window into the future.
FORECAST_FRACTION = 0.3
MIN_HORIZON, MAX_HORIZON = 5, 400


@dataclass(frozen=True)
class Revision:
    """Identifies the content of a buffer: equal revisions hold the same samples."""

    samples: int
    last_t: float


class MetricSource:
    def __init__(self, hub: MetricsHub) -> None:
        self._hub = hub

    @staticmethod
    def allowed(principal: Principal | None) -> bool:
        """Whether ``principal`` may see metric data (``metrics.read``)."""
        return principal is not None and principal.can(Permission.METRICS_READ)

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

    def window(self, key: str, since: float = -math.inf) -> tuple[Array, Array]:
        """Samples with ``t >= since`` (timestamps in epoch seconds, values), oldest first."""
        buffer = self._hub.engine.buffer(key)
        if buffer is None:
            empty = np.empty(0, dtype=np.float64)
            return empty, empty
        return buffer.window(since)

    def thresholds(self, key: str) -> list[float]:
        """The alert thresholds the engine's forecasts watch for ``key``."""
        return self._hub.engine.thresholds(key)

    def settings(self, key: str) -> MetricSettings:
        """The detector, sensitivity and thresholds an operator set for ``key``."""
        return self._hub.settings(key)

    def forecast(self, key: str, ahead_s: float) -> Forecast | None:
        """A forecast about ``ahead_s`` seconds ahead (None without enough data)."""
        buffer = self._hub.engine.buffer(key)
        if buffer is None or len(buffer) < 2:
            return None
        ts, _ = buffer.latest(64)
        diffs = np.diff(ts)
        step = float(np.median(diffs)) if len(diffs) else 0.0
        if not step > 0:
            return None
        horizon = int(min(MAX_HORIZON, max(MIN_HORIZON, math.ceil(ahead_s / step))))
        try:
            return self._hub.engine.forecast(key, horizon)
        except (ValueError, FloatingPointError):
            return None

    def predictions(self) -> list[PredictiveAlert]:
        """Failure predictions the engine made so far, oldest first."""
        return list(self._hub.predictions)

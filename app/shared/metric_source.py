"""Live metric data for the dashboard, read from the engine's ring buffers in process.

The dashboard redraws about ten times a second; an authorised facade call per
chart per frame would cost more than the drawing. So the panel checks once
that the signed-in user may read metrics (``metrics.read``, :meth:`MetricSource.allowed`)
and then reads the :class:`~chimera_engine.metrics.live.LiveMetrics` view the bridge
holds (``bridge.metrics.live``), on the loop thread, at its own pace. Every change to
engine state still goes through the facade (:mod:`app.clients.metrics`).

Costs (1,000-sample buffer): :meth:`MetricSource.window` ~20 us (a numpy copy),
:meth:`MetricSource.forecast` 1-2 ms (a model fit): call it rarely.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.engine import PredictiveAlert
from chimera_engine.anomaly.forecast import Forecast
from chimera_engine.metrics.hub import MetricInfo
from chimera_engine.metrics.live import LiveMetrics, Revision
from chimera_engine.metrics.settings import MetricSettings
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

__all__ = ["FORECAST_FRACTION", "Array", "MetricSource", "Revision"]

Array = npt.NDArray[np.float64]

#: Forecasts reach this fraction of the shown time window into the future.
FORECAST_FRACTION = 0.3
MIN_HORIZON, MAX_HORIZON = 5, 400


class MetricSource:
    def __init__(self, live: LiveMetrics) -> None:
        self._live = live

    @staticmethod
    def allowed(principal: Principal | None) -> bool:
        """Whether ``principal`` may see metric data (``metrics.read``)."""
        return principal is not None and principal.can(Permission.METRICS_READ)

    def metrics(self) -> list[MetricInfo]:
        """Every metric the engine tracks, sorted by key."""
        return self._live.metrics()

    def exists(self, key: str) -> bool:
        return self._live.exists(key)

    def revision(self, key: str) -> Revision | None:
        return self._live.revision(key)

    def span(self, key: str) -> tuple[float, float] | None:
        """Time of the oldest and newest sample held (None: nothing held)."""
        return self._live.span(key)

    def window(self, key: str, since: float = -math.inf) -> tuple[Array, Array]:
        """Samples with ``t >= since`` (timestamps in epoch seconds, values), oldest first."""
        samples = self._live.window(key, since)
        if samples is None:
            empty = np.empty(0, dtype=np.float64)
            return empty, empty
        return samples

    def thresholds(self, key: str) -> list[float]:
        """The alert thresholds the engine's forecasts watch for ``key``."""
        return self._live.thresholds(key)

    def settings(self, key: str) -> MetricSettings:
        """The detector, sensitivity and thresholds an operator set for ``key``."""
        return self._live.settings(key)

    def forecast(self, key: str, ahead_s: float) -> Forecast | None:
        """A forecast about ``ahead_s`` seconds ahead (None without enough data)."""
        latest = self._live.latest(key, 64)
        if latest is None or len(latest[0]) < 2:
            return None
        diffs = np.diff(latest[0])
        step = float(np.median(diffs)) if len(diffs) else 0.0
        if not step > 0:
            return None
        horizon = int(min(MAX_HORIZON, max(MIN_HORIZON, math.ceil(ahead_s / step))))
        try:
            return self._live.forecast(key, horizon)
        except (ValueError, FloatingPointError):
            return None

    def predictions(self) -> list[PredictiveAlert]:
        """Failure predictions the engine made so far, oldest first."""
        return self._live.predictions()

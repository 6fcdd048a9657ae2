"""ForecastEngine: damped Holt (additive trend) forecasts with prediction intervals.

``fit(values, timestamps)`` picks the smoothing weights and the damping
(``phi`` = 1, undamped, or 0.98) from a small grid by
one-step-ahead squared error over the last ``max_points`` samples (pure Python,
~1-2 ms for 300 points). The forecast ``h`` steps ahead is
``level + (phi + ... + phi**h) * trend`` and its variance is the one-step
residual variance times ``1 + sum_{j<h} (alpha + alpha*beta*(phi + ... + phi**j))**2``
(the damped-Holt state-space formula). The step is the median spacing of the
timestamps, so forecasts are in wall-clock time.

``predict_crossing(threshold)`` answers "when will the metric cross T": the step
where the point forecast crosses gives the estimate; the steps where the
interval's near and far bounds cross give the range (the far bound may never
cross within the horizon: ``latest_minutes`` is then None).

>>> import numpy as np
>>> f = ForecastEngine()
>>> t = np.arange(200) * 60.0
>>> model = f.fit(10.0 + 0.1 * np.arange(200), t)
>>> c = model.predict_crossing(40.0, horizon=200)
>>> c is not None and 95 <= c.minutes <= 105
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chimera_engine.anomaly.base import FloatArray

ALPHAS = (0.2, 0.5, 0.8)
BETAS = (0.02, 0.1, 0.3)
PHIS = (1.0, 0.98)


@dataclass(frozen=True)
class Forecast:
    """Forecast path: times (epoch s), mean and a ``level`` prediction interval."""

    t: FloatArray
    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    level: float


@dataclass(frozen=True)
class Crossing:
    """When a forecast crosses ``threshold``: estimate and interval, in minutes from now."""

    threshold: float
    direction: str  # "up" or "down"
    minutes: float
    earliest_minutes: float
    latest_minutes: float | None


@dataclass(frozen=True)
class HoltModel:
    """A fitted damped-Holt model; the state is at the last observed sample."""

    level: float
    trend: float
    alpha: float
    beta: float
    phi: float
    sigma: float
    step_s: float
    last_t: float
    last_value: float

    def forecast(self, horizon: int, z: float = 1.96) -> Forecast:
        """``horizon`` steps ahead; ``z`` = 1.96 gives a 95% interval."""
        h = np.arange(1, horizon + 1, dtype=np.float64)
        damp = h.copy() if self.phi == 1.0 else self.phi * (1.0 - self.phi**h) / (1.0 - self.phi)
        mean = self.level + damp * self.trend
        cj = self.alpha + self.alpha * self.beta * damp
        var = self.sigma**2 * (1.0 + np.concatenate(([0.0], np.cumsum(cj[:-1] ** 2))))
        half = z * np.sqrt(var)
        t = self.last_t + h * self.step_s
        level = math.erf(z / math.sqrt(2.0))
        return Forecast(t, mean, mean - half, mean + half, level)

    def predict_crossing(
        self, threshold: float, horizon: int = 120, z: float = 1.96
    ) -> Crossing | None:
        """Estimated time to cross ``threshold`` within ``horizon`` steps, else None."""
        fc = self.forecast(horizon, z)
        up = threshold >= self.last_value
        if up:
            mean_hit, near_hit, far_hit = (
                fc.mean >= threshold,
                fc.upper >= threshold,
                fc.lower >= threshold,
            )
        else:
            mean_hit, near_hit, far_hit = (
                fc.mean <= threshold,
                fc.lower <= threshold,
                fc.upper <= threshold,
            )
        if not mean_hit.any():
            return None
        minutes = (np.arange(1, horizon + 1) * self.step_s) / 60.0
        est = float(minutes[np.argmax(mean_hit)])
        earliest = float(minutes[np.argmax(near_hit)])
        latest = float(minutes[np.argmax(far_hit)]) if far_hit.any() else None
        return Crossing(threshold, "up" if up else "down", est, earliest, latest)


class ForecastEngine:
    """Fits damped Holt models on recent samples (stateless; safe to share)."""

    def __init__(self, max_points: int = 300, min_points: int = 10) -> None:
        self.max_points, self.min_points = max_points, min_points

    def fit(self, values: FloatArray, timestamps: FloatArray) -> HoltModel:
        """Fit on finite samples (oldest first); raises ValueError on too few."""
        vs = np.asarray(values, dtype=np.float64)
        ts = np.asarray(timestamps, dtype=np.float64)
        ok = np.isfinite(vs) & np.isfinite(ts)
        vs, ts = vs[ok][-self.max_points :], ts[ok][-self.max_points :]
        if len(vs) < self.min_points:
            raise ValueError(f"need at least {self.min_points} samples, got {len(vs)}")
        diffs = np.diff(ts)
        step = float(np.median(diffs)) if len(diffs) and np.median(diffs) > 0 else 1.0
        xs = vs.tolist()
        best: tuple[float, float, float, float, float, float] | None = None
        for phi in PHIS:
            for alpha in ALPHAS:
                for beta in BETAS:
                    sse, level, trend = _run(xs, alpha, beta, phi)
                    if best is None or sse < best[0] * 0.999:
                        best = (sse, alpha, beta, phi, level, trend)
        assert best is not None
        sse, alpha, beta, phi, level, trend = best
        sigma = math.sqrt(sse / max(1, len(xs) - 2))
        return HoltModel(level, trend, alpha, beta, phi, sigma, step, float(ts[-1]), xs[-1])


def _run(xs: list[float], alpha: float, beta: float, phi: float) -> tuple[float, float, float]:
    """One-step SSE and final (level, trend) of damped Holt over ``xs``."""
    level = xs[0]
    trend = xs[1] - xs[0]
    sse = 0.0
    for x in xs[1:]:
        pred = level + phi * trend
        err = x - pred
        sse += err * err
        new_level = pred + alpha * err
        trend = phi * trend + alpha * beta * err
        level = new_level
    return sse, level, trend

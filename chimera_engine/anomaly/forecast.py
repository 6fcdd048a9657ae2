"""ForecastEngine: damped Holt (additive trend) forecasts with prediction intervals.

With ``bin_to``, a longer history is first averaged into at most ``bin_to``
bins of consecutive samples (the live engine fits its whole 1,000-sample
buffer as 250 bins): a metric sampled every second is then forecast from its
last ~17 minutes rather than its last 5, with the noise averaged down; steps
are bins (``samples_per_step`` samples each).

``fit(values, timestamps)`` picks the smoothing weights and the damping
(``phi`` = 1, undamped, or 0.98) from a small grid by one-step-ahead squared
error over the last ``max_points`` samples (pure Python, under 1 ms for 300
points). Damping must *earn* its place: it is chosen only when it lowers the
error by more than ``DAMPING_GAIN`` (2%); on a slow steady rise (a leak, a
filling disk) the two fit equally well and the undamped trend, which keeps
rising, is the one that reaches the threshold in time.

The forecast ``h`` steps ahead is ``level + (phi + ... + phi**h) * trend`` and
its variance is ``sigma**2 * (1 + sum_{j<h} (alpha + alpha*beta*(phi + ... + phi**j))**2)``
(the damped-Holt state-space formula). ``sigma`` is a *robust* scale of the
one-step residuals (1.4826 x their median absolute value): one spike in the
window does not inflate the band for the next 300 samples. The step is the
median spacing of the timestamps, so forecasts are in wall-clock time.

``predict_crossing(threshold)`` answers "when will the metric cross T": the step
where the point forecast crosses gives the estimate; the range comes from the
trend's own uncertainty (the trend +- 1.96 standard errors, see
:attr:`HoltModel.trend_z`): the faster trend crosses first, the slower one last
(or never within the horizon: ``latest_minutes`` is then None).

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
#: Damping is chosen only when its one-step error is this much lower than undamped.
DAMPING_GAIN = 0.02
#: One-step errors beyond this many noise standard deviations are clipped (outliers).
CLIP = 3.0
#: Consistency constant: median |N(0, sigma)| * MAD_SCALE = sigma.
MAD_SCALE = 1.4826


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
    samples_per_step: int = 1

    @property
    def trend_z(self) -> float:
        """How many standard errors the trend is from zero; below ~3 it may be noise.

        The standard error is the spread the trend shows on a trendless series with
        this model's noise: the steady-state variance of the Holt filter driven by
        white noise of scale ``sigma`` (a 2x2 discrete Lyapunov equation).
        """
        se = self.sigma * trend_noise(self.alpha, self.beta, self.phi)
        if se <= 0.0:
            return math.inf if self.trend else 0.0
        return abs(self.trend) / se

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
        self, threshold: float, horizon: int = 120, z: float = 1.96, min_trend_z: float = 0.0
    ) -> Crossing | None:
        """Estimated time to cross ``threshold`` within ``horizon`` steps, else None
        (also None when the trend is within ``min_trend_z`` standard errors of zero)."""
        if self.trend_z < min_trend_z:
            return None
        up = threshold >= self.last_value
        h = np.arange(1, horizon + 1, dtype=np.float64)
        damp = h if self.phi == 1.0 else self.phi * (1.0 - self.phi**h) / (1.0 - self.phi)
        spread = z * self.sigma * trend_noise(self.alpha, self.beta, self.phi)
        toward = 1.0 if up else -1.0  # the trend that reaches the threshold
        hits = []
        for trend in (self.trend, self.trend + toward * spread, self.trend - toward * spread):
            path = self.level + damp * trend
            hits.append(path >= threshold if up else path <= threshold)
        mean_hit, fast_hit, slow_hit = hits
        if not mean_hit.any():
            return None
        minutes = h * self.step_s / 60.0
        est = float(minutes[np.argmax(mean_hit)])
        earliest = float(minutes[np.argmax(fast_hit)])
        latest = float(minutes[np.argmax(slow_hit)]) if slow_hit.any() else None
        return Crossing(threshold, "up" if up else "down", est, earliest, latest)


class ForecastEngine:
    """Fits damped Holt models on recent samples (stateless; safe to share)."""

    def __init__(
        self, max_points: int = 300, min_points: int = 10, bin_to: int | None = None
    ) -> None:
        self.max_points, self.min_points, self.bin_to = max_points, min_points, bin_to

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
        last_t, last_value = float(ts[-1]), float(vs[-1])
        per_step = 1
        if self.bin_to is not None and len(vs) > self.bin_to:
            per_step = math.ceil(len(vs) / self.bin_to)
            usable = len(vs) // per_step * per_step
            vs = vs[len(vs) - usable :].reshape(-1, per_step).mean(axis=1)
            step *= per_step
        xs = vs.tolist()
        clip = CLIP * _robust_scale(np.diff(vs).tolist()) / math.sqrt(2.0)
        if not clip > 0.0:
            clip = math.inf
        best: tuple[float, float, float, float] | None = None
        for phi in PHIS:
            penalty = 1.0 if phi == 1.0 else 1.0 / (1.0 - DAMPING_GAIN)
            for alpha in ALPHAS:
                for beta in BETAS:
                    sse = _run(xs, alpha, beta, phi, clip)[0] * penalty
                    if best is None or sse < best[0] * 0.999:
                        best = (sse, alpha, beta, phi)
        assert best is not None
        _, alpha, beta, phi = best
        _, level, trend, residuals = _run(xs, alpha, beta, phi, clip, keep=True)
        sigma = _robust_scale(residuals)
        return HoltModel(level, trend, alpha, beta, phi, sigma, step, last_t, last_value, per_step)


def trend_noise(alpha: float, beta: float, phi: float) -> float:
    """Standard deviation of Holt's trend on unit white noise (steady state).

    >>> round(trend_noise(0.2, 0.02, 1.0), 4)
    0.0067
    """
    ab = alpha * beta
    f = np.array([[1.0 - alpha, phi * (1.0 - alpha)], [-ab, phi * (1.0 - ab)]])
    g = np.array([alpha, ab])
    p = np.linalg.solve(np.eye(4) - np.kron(f, f), np.outer(g, g).ravel())
    return math.sqrt(max(float(p[3]), 0.0))


def _robust_scale(residuals: list[float]) -> float:
    """Standard deviation of the residuals estimated from their median absolute value.

    >>> round(_robust_scale([1.0, -1.0, 0.5, -0.5, 100.0]), 3)
    1.483
    """
    if not residuals:
        return 0.0
    return MAD_SCALE * float(np.median(np.abs(np.asarray(residuals))))


def _run(
    xs: list[float], alpha: float, beta: float, phi: float, clip: float, keep: bool = False
) -> tuple[float, float, float, list[float]]:
    """Robust damped Holt over ``xs``: one-step errors are clipped to ``+-clip``
    before they update the state and the error sum, so an outlier moves neither the
    level nor the trend much. Returns the SSE of the clipped errors, the final
    (level, trend) and, when ``keep``, the raw one-step residuals."""
    level = xs[0]
    trend = 0.0
    sse = 0.0
    residuals: list[float] = []
    for x in xs[1:]:
        pred = level + phi * trend
        err = x - pred
        if keep:
            residuals.append(err)
        if err > clip:
            err = clip
        elif err < -clip:
            err = -clip
        sse += err * err
        level = pred + alpha * err
        trend = phi * trend + alpha * beta * err
    return sse, level, trend, residuals

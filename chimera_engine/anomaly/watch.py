"""Predictive alerts: when a metric's forecast crosses one of its thresholds, and when
a standing prediction no longer holds. Reads each metric's buffer; keeps its state
(the standing prediction, the cooldown, the checks' bookkeeping) on the metric."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chimera_engine.anomaly.forecast import Crossing, ForecastEngine, HoltModel
from chimera_engine.anomaly.predictions import PredictiveAlert, Withdrawal
from chimera_engine.anomaly.series import MetricState

#: Predictive alerts look at most this many steps ahead.
MAX_HORIZON = 4000


class PredictionWatch:
    """Fits forecasts for metrics with thresholds and announces (or withdraws) the
    crossings that hold up; see :meth:`check_forecasts` and :meth:`check_withdrawals`."""

    def __init__(
        self,
        forecaster: ForecastEngine,
        *,
        horizon_steps: int = 120,
        cooldown_s: float = 900.0,
        horizon_s: float = 7200.0,
        min_trend_z: float = 3.0,
        min_points: int = 30,
        confirm: int = 10,
    ) -> None:
        self.forecaster = forecaster
        self.horizon_steps = horizon_steps
        self.cooldown_s = cooldown_s
        self.horizon_s = horizon_s
        self.min_trend_z = min_trend_z
        self.min_points = min_points
        self.confirm = confirm

    def horizon(self, step_s: float) -> int:
        """Forecast steps for predictive alerts: ``horizon_steps`` steps and at least
        ``horizon_s`` seconds, at most :data:`MAX_HORIZON` steps."""
        by_time = math.ceil(self.horizon_s / step_s) if step_s > 0 else 0
        return int(min(MAX_HORIZON, max(self.horizon_steps, by_time)))

    def check_forecasts(
        self, now: float, metrics: Iterable[tuple[str, MetricState, list[float]]]
    ) -> list[PredictiveAlert]:
        """Predictive alerts for every metric with thresholds (cooldown per metric).

        A crossing is announced only when the data as they were ``confirm``
        samples (and at least a tenth of the lead) earlier predicted it too, at
        the same time give or take a quarter of that lead: the passing slope left by a
        level shift grows and fades meanwhile; a leak's stays. Metrics with no new sample
        since the last check are not fitted again.
        """
        out: list[PredictiveAlert] = []
        for name, m, thresholds in metrics:
            if not thresholds or now - m.last_predictive_t < self.cooldown_s:
                continue
            samples = m.status.samples
            if samples == m.checked_n:
                continue  # nothing new since the last check
            m.checked_n = samples
            if len(m.buffer) < max(self.forecaster.min_points, self.min_points):
                continue
            values, times = m.buffer.values(), m.buffer.timestamps()
            model = self.forecaster.fit(values, times)
            found = self.crossing(model, [*thresholds])
            if found is None:
                continue
            threshold, c = found
            lead_s = c.minutes * 60.0
            sample_s = model.step_s / model.samples_per_step
            wait = max(self.confirm * sample_s, 0.1 * lead_s)
            keep = times <= model.last_t - wait
            if int(keep.sum()) < max(self.forecaster.min_points, self.min_points):
                continue
            earlier = self.crossing(self.forecaster.fit(values[keep], times[keep]), [threshold])
            if earlier is None:
                continue
            before_lead = earlier[1].minutes * 60.0
            before_at = float(times[keep][-1]) + before_lead
            if abs(model.last_t + lead_s - before_at) > 0.25 * before_lead:
                continue  # the expected crossing moved: a passing slope, not a steady one
            m.last_predictive_t = now
            m.prediction = PredictiveAlert(
                name, now, threshold, c.direction, c.minutes, c.earliest_minutes, c.latest_minutes
            )
            m.misses = 0
            m.predicted_from = model.last_value
            out.append(m.prediction)
        return out

    def check_withdrawals(
        self, now: float, metrics: Iterable[MetricState], grace_s: float = 120.0
    ) -> list[Withdrawal]:
        """Standing predictions that no longer hold, each withdrawn once.

        A prediction is withdrawn when two checks in a row on newer samples find the
        metric back behind the level it was predicted from (the median of the last
        ``confirm`` samples) or a fit that no longer forecasts the crossing
        (the metric recovered or the slope faded; the cooldown is
        then lifted so a renewed drift is announced again), when the metric is gone,
        or ``grace_s`` seconds after its crossing time. One fit per metric with a
        standing prediction and new samples.
        """
        out: list[Withdrawal] = []
        for m in metrics:
            p = m.prediction
            if p is None:
                continue
            reason = ""
            if now > p.at + grace_s:
                reason = "its time has passed"
            elif m.status.samples != m.withdraw_n and len(m.buffer) >= self.forecaster.min_points:
                m.withdraw_n = m.status.samples
                values = m.buffer.values()
                recent = float(np.median(values[-self.confirm :]))
                start = m.predicted_from
                back = recent < start if p.direction == "up" else recent > start
                model = self.forecaster.fit(values, m.buffer.timestamps())
                if back or self.crossing(model, [p.threshold]) is None:
                    m.misses += 1
                    if m.misses >= 2:
                        reason = "the forecast no longer crosses"
                        m.last_predictive_t = -math.inf
                else:
                    m.misses = 0
            if reason:
                m.prediction = None
                out.append(Withdrawal(p, now, reason))
        return out

    def crossing(self, model: HoltModel, thresholds: list[float]) -> tuple[float, Crossing] | None:
        for threshold in thresholds:
            if model.last_value == threshold:
                continue  # already on the threshold
            c = model.predict_crossing(
                threshold, self.horizon(model.step_s), min_trend_z=self.min_trend_z
            )
            if c is not None:
                return threshold, c
        return None

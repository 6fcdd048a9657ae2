"""Forecasts on leaks, spikes and level shifts: a slow steady rise is predicted well
ahead, one spike neither widens the band nor predicts a crossing, a level shift is
not mistaken for a leak."""

from __future__ import annotations

import numpy as np

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.forecast import ForecastEngine


def test_one_spike_does_not_widen_the_band() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(300) * 60.0
    x = 40.0 + rng.normal(0.0, 1.0, 300)
    calm = ForecastEngine().fit(x, t).forecast(30)
    x[280] += 60.0
    spiked = ForecastEngine().fit(x, t)
    band = spiked.forecast(30)
    width = float(np.mean(band.upper - band.lower))
    assert width < 1.3 * float(np.mean(calm.upper - calm.lower))
    assert abs(float(band.mean[0]) - 40.0) < 2.0, "the level did not jump with the spike"
    assert spiked.predict_crossing(90.0, 120, min_trend_z=3.0) is None


def leak_alert(step_s: float, seed: int = 3) -> tuple[float, float] | None:
    """A leak crossing 90 about 90 minutes after it starts: (lead, predicted) minutes."""
    rng = np.random.default_rng(seed)
    eng = AnomalyDetectionEngine()
    eng.set_thresholds("disk", 90.0)
    start, cross = 600, 600 + 90 * 60 / step_s
    slope = 50.0 / (cross - start)
    every = max(1, int(60 / step_s))
    for i in range(int(cross)):
        t = 1.7e9 + step_s * i
        eng.observe("disk", t, 40.0 + max(0.0, i - start) * slope + rng.normal(0.0, 1.0))
        if i % every == 0:
            for alert in eng.check_forecasts(t):
                return (cross - i) * step_s / 60.0, alert.minutes
    return None


def test_slow_leak_is_predicted_long_before_it_crosses() -> None:
    for step_s in (60.0, 1.0):
        found = leak_alert(step_s)
        assert found is not None, f"no prediction at one sample every {step_s:g} s"
        lead, predicted = found
        assert lead >= 30.0
        assert abs(predicted - lead) <= 0.35 * lead


def test_level_shift_is_not_a_leak() -> None:
    rng = np.random.default_rng(5)
    eng = AnomalyDetectionEngine()
    eng.set_thresholds("disk", 90.0)
    alerts = []
    for i in range(600):
        t = 1.7e9 + 60.0 * i
        eng.observe("disk", t, 40.0 + (15.0 if i >= 300 else 0.0) + rng.normal(0.0, 1.0))
        alerts += eng.check_forecasts(t)
    assert alerts == []

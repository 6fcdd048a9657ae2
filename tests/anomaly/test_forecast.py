"""ForecastEngine accuracy, intervals, crossings, and the engine's predictive alerts."""

from __future__ import annotations

import numpy as np
import pytest

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.forecast import ForecastEngine


def test_forecast_accuracy() -> None:
    """On a noisy linear trend, the 30-step forecast is close and the interval covers."""
    rng = np.random.default_rng(3)
    n, h = 400, 30
    t = np.arange(n + h) * 60.0
    truth = 20.0 + 0.05 * np.arange(n + h)
    x = truth + rng.normal(0.0, 0.5, n + h)
    fc = ForecastEngine().fit(x[:n], t[:n]).forecast(h)
    mae = float(np.mean(np.abs(fc.mean - truth[n:])))
    assert mae < 0.6
    covered = np.mean((x[n:] >= fc.lower) & (x[n:] <= fc.upper))
    assert covered >= 0.85
    np.testing.assert_allclose(fc.t, t[n:])
    assert np.all(np.diff(fc.upper - fc.lower) >= -1e-12)  # intervals widen


def test_predict_crossing_minutes_and_interval() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(300) * 60.0
    x = 50.0 + 0.1 * np.arange(300) + rng.normal(0.0, 0.3, 300)
    c = ForecastEngine().fit(x, t).predict_crossing(90.0, horizon=300)
    assert c is not None and c.direction == "up"
    # 90 is reached ~ (90 - 79.9) / 0.1 = 101 minutes after the last sample
    assert 85 <= c.minutes <= 120
    assert c.earliest_minutes <= c.minutes
    assert c.latest_minutes is None or c.latest_minutes >= c.minutes


def test_no_crossing_for_flat_series() -> None:
    t = np.arange(100) * 60.0
    assert ForecastEngine().fit(np.full(100, 5.0), t).predict_crossing(10.0) is None


def test_too_few_points() -> None:
    with pytest.raises(ValueError, match="at least"):
        ForecastEngine().fit(np.ones(3), np.arange(3.0))


def test_engine_predictive_alert_lead_time() -> None:
    eng = AnomalyDetectionEngine(predictive_horizon=60)
    eng.set_thresholds("disk", 95.0)
    cross_at = None
    alert = None
    for i in range(400):
        t = 1.7e9 + 60.0 * i
        v = 40.0 + 0.2 * i
        eng.observe("disk", t, v)
        if v >= 95.0 and cross_at is None:
            cross_at = t
        if alert is None and i >= 20:
            found = eng.check_forecasts(t)
            alert = found[0] if found else None
            if alert is not None:
                alert_t = t
    assert alert is not None and cross_at is not None
    lead_min = (cross_at - alert_t) / 60.0
    assert lead_min > 0
    assert abs(alert.minutes - lead_min) <= 3
    assert "forecast to cross 95" in alert.message()

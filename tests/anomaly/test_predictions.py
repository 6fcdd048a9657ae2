"""Predictions count down to a fixed time and are withdrawn when they no longer hold."""

from __future__ import annotations

from datetime import UTC

import numpy as np

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.predictions import PredictiveAlert

T0 = 1.7e9


def _leak_then(after: str) -> tuple[AnomalyDetectionEngine, PredictiveAlert, list[str], float]:
    """A memory leak predicted to cross 95, then the metric ``after`` ("recovers" or "keeps")."""
    rng = np.random.default_rng(5)
    eng = AnomalyDetectionEngine(predictive_horizon=60)
    eng.set_thresholds("mem", 95.0)
    alert: PredictiveAlert | None = None
    reasons: list[str] = []
    t = T0
    for i in range(260):
        t = T0 + 60.0 * i
        v = 40.0 + 0.5 * i  # crosses 95 at i = 110
        if after == "recovers" and i >= 80:
            v = 40.0
        eng.observe("mem", t, v + float(rng.normal(0.0, 0.2)))
        if i >= 20 and i % 5 == 0:
            found = eng.check_forecasts(t)
            if alert is None and found:
                alert = found[0]
            reasons += [w.reason for w in eng.check_withdrawals(t)]
        if reasons:
            break
    assert alert is not None
    return eng, alert, reasons, t


def test_a_prediction_of_a_recovered_metric_is_withdrawn() -> None:
    eng, _alert, reasons, t = _leak_then("recovers")
    assert reasons == ["the forecast no longer crosses"]
    assert t - T0 >= 80 * 60.0  # not before the recovery
    assert t - T0 <= 100 * 60.0  # within a few checks of it
    assert eng.standing_predictions() == []


def test_a_steady_leak_keeps_its_prediction_until_its_time() -> None:
    eng, alert, reasons, t = _leak_then("keeps")
    assert reasons == ["its time has passed"]
    assert t > alert.at  # only once the crossing time is behind us
    assert eng.standing_predictions() == []


def test_the_countdown_is_to_a_fixed_time_and_never_an_empty_range() -> None:
    alert = PredictiveAlert("mem", 0.0, 95.0, "up", 10.0, 3.8, 3.8)
    first = alert.message(now=0.0, tz=UTC)
    later = alert.message(now=7 * 60.0, tz=UTC)
    assert first == "mem is forecast to cross 95 at 00:10, in 10 min"
    assert later == "mem is forecast to cross 95 at 00:10, in 3 min"
    assert "between" not in first
    assert (
        alert.message(now=11 * 60.0, tz=UTC) == "mem was forecast to cross 95 at 00:10 (1 min ago)"
    )

"""AnomalyDetectionEngine: events, statuses for bad input, metrics that come and go."""

from __future__ import annotations

import math

import numpy as np

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.ensemble import AnomalyKind
from tests.anomaly import synthetic


def feed(eng: AnomalyDetectionEngine, metric: str, x: np.ndarray, t0: float = 1.7e9) -> list:
    events = []
    for i, v in enumerate(x.tolist()):
        ev = eng.observe(metric, t0 + 60.0 * i, v)
        if ev is not None:
            events.append(ev)
    return events


def test_spike_event_is_typed() -> None:
    eng = AnomalyDetectionEngine()
    events = [e for e in feed(eng, "cpu", synthetic.spike()) if e.t >= 1.7e9 + 60 * synthetic.AT]
    assert events[0].kind is AnomalyKind.SPIKE and events[0].metric == "cpu"
    assert events[0].t == 1.7e9 + 60.0 * synthetic.AT


def test_bad_input_statuses() -> None:
    eng = AnomalyDetectionEngine()
    feed(eng, "m", synthetic.noise()[:100])
    t_last = 1.7e9 + 60.0 * 99
    assert eng.observe("m", t_last + 60, math.nan) is None
    assert eng.observe("m", t_last + 60, math.inf) is None
    assert eng.observe("m", t_last - 600, 50.0) is None  # out of order
    eng.observe("m", t_last + 60 * 100, 50.0)  # a long gap
    st = eng.status("m")
    assert st is not None
    assert (st.nonfinite, st.out_of_order, st.gaps, st.samples) == (2, 1, 1, 101)
    assert st.state == "ok"


def test_constant_metric_never_alerts_and_says_so() -> None:
    eng = AnomalyDetectionEngine()
    assert feed(eng, "flat", np.full(3000, 7.0)) == []
    st = eng.status("flat")
    assert st is not None and st.state == "constant"


def test_metric_disappears_and_reappears() -> None:
    eng = AnomalyDetectionEngine()
    feed(eng, "a", synthetic.noise()[:50])
    feed(eng, "b", synthetic.noise()[:50], t0=1.7e9 + 3600)
    gone = eng.expire(now=1.7e9 + 3600 + 60 * 49, ttl_s=600)
    assert gone == ["a"] and eng.metrics() == ["b"]
    feed(eng, "a", synthetic.noise()[:10], t0=1.8e9)
    st = eng.status("a")
    assert st is not None and st.samples == 10 and st.state == "warming_up"


def test_alert_rate_not_stuck_after_level_change() -> None:
    eng = AnomalyDetectionEngine()
    x = np.concatenate([synthetic.noise(0), synthetic.noise(1) + 500.0, synthetic.noise(2) + 500.0])
    events = feed(eng, "m", x)
    assert 1 <= len([e for e in events if e.t >= 1.7e9 + 60 * 600]) <= 3


def test_forecast_via_engine() -> None:
    eng = AnomalyDetectionEngine()
    assert eng.forecast("nothing") is None
    feed(eng, "lin", 10.0 + 0.5 * np.arange(100.0))
    fc = eng.forecast("lin", horizon=10)
    assert fc is not None and abs(fc.mean[-1] - (10.0 + 0.5 * 109)) < 1.0
    c = eng.predict_crossing("lin", 100.0)
    assert c is not None and 80 <= c.minutes <= 95

"""Effect-size floors: a rare but tiny move is no alert; a real one still is."""

from __future__ import annotations

import numpy as np

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.floors import DEFAULT, EffectFloor, floor_for


def _alerts(metric: str, base: float, noise: float, step: float) -> int:
    """Alerts on ``metric``: an hour of 1 Hz noise around ``base``, then a shift by ``step``."""
    rng = np.random.default_rng(11)
    eng = AnomalyDetectionEngine()
    n = 0
    for i in range(3600 + 300):
        x = base + float(rng.normal(0.0, noise)) + (step if i >= 3600 else 0.0)
        n += eng.observe(metric, 1.7e9 + i, x) is not None and i >= 3600
    return n


def test_half_a_percent_of_memory_is_not_news_but_a_leap_is() -> None:
    # A very quiet metric: a 0.5% move is dozens of sigmas, statistically.
    assert _alerts("agent.rss_mb{agent=a1}", 22.24, 0.002, 0.11) == 0
    assert _alerts("agent.rss_mb{agent=a1}", 22.24, 0.002, 8.0) >= 1


def test_the_same_move_on_a_metric_of_unknown_kind_is_reported() -> None:
    assert _alerts("orders.backlog", 22.24, 0.002, 0.5) >= 1


def test_rules_by_name() -> None:
    assert floor_for("host.cpu_percent").floor(99.7) == 15.0
    assert floor_for("tool.latency_ms{tool=x}").floor(200.0) == 50.0
    assert floor_for("tool.calls{tool=x}").floor(9.0) == 13.5  # 4.5 * sqrt(9)
    assert floor_for("something.else") is DEFAULT
    assert EffectFloor().reached(1.0, 1.0)  # no floor: any move (even none) passes

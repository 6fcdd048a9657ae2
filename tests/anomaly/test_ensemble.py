"""The live ensemble: detection, typing, cooldown, and the no-learning-from-anomalies rule."""

from __future__ import annotations

import numpy as np
import pytest

from chimera_engine.anomaly.ensemble import Alert, AnomalyKind, Ensemble, EnsembleConfig, classify
from tests.anomaly import synthetic


def alerts(x: np.ndarray, config: EnsembleConfig | None = None) -> list[tuple[int, Alert]]:
    e = Ensemble(config)
    out: list[tuple[int, Alert]] = []
    for i, (v, t) in enumerate(zip(x.tolist(), synthetic.timestamps(len(x)).tolist(), strict=True)):
        e.score_learn(v, t)
        if e.alert is not None:
            out.append((i, e.alert))
    return out


def first_alert_after(x: np.ndarray, start: int) -> tuple[int, Alert]:
    found = [(i, a) for i, a in alerts(x) if i >= start]
    assert found, "no alert after the injected anomaly"
    return found[0]


def test_spike_detection() -> None:
    i, alert = first_alert_after(synthetic.spike(), synthetic.AT)
    assert i == synthetic.AT
    assert alert.kind is AnomalyKind.SPIKE
    assert 0.0 < alert.score <= 1.0
    assert alert.value > alert.expected


@pytest.mark.parametrize(
    ("kind", "expected", "within"),
    [
        ("drop", AnomalyKind.DROP, 1),
        ("trend", AnomalyKind.TREND_CHANGE, 30),
    ],
)
def test_anomaly_types(kind: str, expected: AnomalyKind, within: int) -> None:
    i, alert = first_alert_after(getattr(synthetic, kind)(), synthetic.AT)
    assert synthetic.AT <= i < synthetic.AT + within
    assert alert.kind is expected


@pytest.mark.parametrize("seed", range(5))
def test_no_alerts_on_clean_noise_after_warmup(seed: int) -> None:
    x = synthetic.noise(seed, n=3000)
    late = [i for i, _ in alerts(x) if i >= 1500]
    assert len(late) <= 2


def test_cooldown_logic() -> None:
    """Three spikes 2 minutes apart are one incident; a spike after the cooldown alerts again."""
    x = synthetic.noise(2, n=900)
    for at, jump in ((450, 80.0), (452, 160.0), (454, 320.0)):
        x[at] += jump  # each a new record: each scores above the alert threshold
    x[800] += 1000.0
    # No relative suppression or rest: every spike scores high, only cooldown can hold it.
    config = EnsembleConfig(cooldown_s=600.0, rest_points=0, peak_decay=0.0)
    e = Ensemble(config)
    raised: list[int] = []
    for i, (v, t) in enumerate(zip(x.tolist(), synthetic.timestamps(900).tolist(), strict=True)):
        e.score_learn(v, t)
        if e.alert is not None:
            raised.append(i)
    assert [i for i in raised if i >= 450] == [450, 800]
    assert e.suppressed == 2


def test_cooldown_counts_samples_without_timestamps() -> None:
    x = synthetic.noise(4, n=900)
    x[[450, 460]] += 80.0
    x[800] += 400.0
    e = Ensemble(EnsembleConfig(cooldown_points=60, rest_points=0, peak_decay=0.0))
    raised = []
    for i, v in enumerate(x.tolist()):
        e.score_learn(v)
        if e.alert is not None:
            raised.append(i)
    assert [i for i in raised if i >= 450] == [450, 800]


def test_anomalous_points_are_not_learned() -> None:
    x = synthetic.noise(0)
    e = Ensemble()
    for v in x[:400].tolist():
        e.score_learn(v)
    mean_before = e.zscore.mean
    assert e.score_learn(500.0) > 0.5
    assert e.zscore.mean == mean_before  # the spike did not move the baseline
    e.score_learn(float(x[400]))
    assert e.zscore.mean != mean_before  # an ordinary point is learned


def test_lasting_shift_is_accepted_after_max_skip() -> None:
    x = np.concatenate([synthetic.noise(0)[:400], synthetic.noise(1)[:400] + 100.0])
    s = Ensemble().score_series(x)
    assert s[400] > 0.5
    assert np.all(s[-200:] < 0.5)  # the new level became normal: no stuck alarm


def test_scores_in_unit_interval_for_wild_input() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_cauchy(2000) * 1e6
    x[::97] = np.nan
    s = Ensemble().score_series(x)
    assert np.all((s >= 0.0) & (s <= 1.0))


@pytest.mark.parametrize(
    ("units", "x", "smoothed", "kind"),
    [
        ([9.0, 3.0, 2.0, 0.1, 0.5], 90.0, 62.0, AnomalyKind.SPIKE),
        ([9.0, 3.0, 2.0, 0.1, 0.5], 10.0, 38.0, AnomalyKind.DROP),
        ([2.0, 2.0, 1.8, 0.2, 0.1], 60.0, 58.0, AnomalyKind.TREND_CHANGE),
        ([0.5, 0.4, 0.3, 1.6, 0.2], 50.0, 50.0, AnomalyKind.PATTERN_BREAK),
    ],
)
def test_classify(units: list[float], x: float, smoothed: float, kind: AnomalyKind) -> None:
    assert classify(units, x, 50.0, smoothed) is kind


def test_classify_seasonal_break() -> None:
    assert classify([0.5, 0.4, 0.3, 0.2, 2.0], 50.0, 49.0, 49.3) is AnomalyKind.PATTERN_BREAK

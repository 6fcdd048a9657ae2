"""One generic suite, run over every detector (river-style): same contract for all."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from chimera_engine.anomaly.base import Detector
from chimera_engine.anomaly.context import ContextDetector
from chimera_engine.anomaly.ensemble import Ensemble
from chimera_engine.anomaly.ewma import EWMADetector
from chimera_engine.anomaly.iforest import IsolationForestDetector
from chimera_engine.anomaly.seasonal import SeasonalDetector
from chimera_engine.anomaly.trend import TrendDetector
from chimera_engine.anomaly.zscore import ZScoreDetector
from tests.anomaly import synthetic

FACTORIES: dict[str, Callable[[], Detector]] = {
    "zscore": ZScoreDetector,
    "ewma": EWMADetector,
    "trend": TrendDetector,
    "context": ContextDetector,
    "iforest": lambda: IsolationForestDetector(refit_every=200, seed=7),
    "seasonal": SeasonalDetector,
    "ensemble": Ensemble,
}
#: What each detector is built to catch (all of them must catch these).
CATCHES: dict[str, set[str]] = {
    "zscore": {"spike", "drop"},
    "ewma": {"spike", "drop", "trend"},
    "trend": {"trend"},
    "context": {"pattern"},
    "iforest": {"spike", "drop"},
    "seasonal": {"spike", "drop"},
    "ensemble": {"spike", "drop", "trend"},
}
NAMES = list(FACTORIES)


def run(name: str, x: np.ndarray) -> np.ndarray:
    """Fresh detector over ``x`` with one-minute timestamps."""
    return FACTORIES[name]().score_series(x, synthetic.timestamps(len(x)).tolist())


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_scores_are_finite_and_non_negative(name: str) -> None:
    s = run(name, synthetic.spike())
    assert s.shape == (synthetic.N,)
    assert np.all(np.isfinite(s)) and np.all(s >= 0.0)


def test_causal_prefix_equals_truncated_run(name: str) -> None:
    x = synthetic.spike(seed=3)
    full = run(name, x)
    for cut in (17, 250, 451, 523):
        prefix = run(name, x[:cut])
        np.testing.assert_array_equal(prefix, full[:cut])


def test_deterministic(name: str) -> None:
    x = synthetic.trend(seed=5)
    a = run(name, x)
    b = run(name, x)
    np.testing.assert_array_equal(a, b)


def test_reset_forgets(name: str) -> None:
    d = FACTORIES[name]()
    ts = synthetic.timestamps().tolist()
    a = d.score_series(synthetic.spike(), ts)
    d.reset()
    np.testing.assert_array_equal(d.score_series(synthetic.spike(), ts), a)


def test_constant_series_never_alarms(name: str) -> None:
    s = run(name, np.full(800, 42.0))
    assert np.all(s == 0.0)


def test_constant_then_shift_recovers(name: str) -> None:
    """A step on a constant series is noticed, then learned: no stuck 100% anomaly rate."""
    x = np.concatenate([np.full(300, 5.0), np.full(500, 9.0)])
    s = run(name, x)
    assert s[-100:].max() <= 0.25 * s[300:310].max() + 1e-12


def test_nan_and_inf_are_skipped(name: str) -> None:
    x = synthetic.spike(seed=1)
    dirty = x.copy()
    dirty[[100, 200, 201]] = [np.nan, np.inf, -np.inf]
    clean = np.delete(x, [100, 200, 201])
    ts = synthetic.timestamps(len(x))
    s_dirty = FACTORIES[name]().score_series(dirty, ts.tolist())
    s_clean = FACTORIES[name]().score_series(clean, np.delete(ts, [100, 200, 201]).tolist())
    assert np.all(s_dirty[[100, 200, 201]] == 0.0)
    np.testing.assert_allclose(np.delete(s_dirty, [100, 200, 201]), s_clean)


def test_score_one_does_not_learn(name: str) -> None:
    d = FACTORIES[name]()
    d.score_series(synthetic.noise()[:400], synthetic.timestamps(400).tolist())
    t = float(synthetic.timestamps(401)[-1])
    first = d.score_one(70.0, t)
    for _ in range(5):
        assert d.score_one(70.0, t) == first


@pytest.mark.parametrize("kind", ["spike", "drop", "trend", "pattern"])
def test_synthetic_anomaly_detected(name: str, kind: str) -> None:
    if kind not in CATCHES[name]:
        pytest.skip(f"{name} is not built to catch a {kind}")
    x = getattr(synthetic, kind)()
    s = run(name, x)
    before = s[200 : synthetic.AT].max()
    after = s[synthetic.AT : synthetic.AT + 40].max()
    assert after > before, f"{name} missed the {kind}: {after} <= {before}"

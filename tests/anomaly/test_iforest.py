"""IsolationForest detector: batched scoring, refits, off-loop fitting, determinism."""

from __future__ import annotations

import asyncio

import numpy as np

from chimera_engine.anomaly.iforest import IsolationForestDetector, fit_forest
from tests.anomaly import synthetic


def test_isolation_forest() -> None:
    """Scores a spike far above ordinary points; batch == per point; seeded == seeded."""
    x = synthetic.spike(seed=2)
    batch = IsolationForestDetector(refit_every=150, seed=1).score_series(x)
    d = IsolationForestDetector(refit_every=150, seed=1)
    per_point = [d.score_learn(v) for v in x.tolist()]
    np.testing.assert_allclose(batch, per_point)
    assert batch[synthetic.AT] == batch.max() > 0.2
    assert np.median(batch[200:400]) < 0.1
    again = IsolationForestDetector(refit_every=150, seed=1).score_series(x)
    np.testing.assert_array_equal(batch, again)


def test_no_model_scores_zero_until_min_train() -> None:
    d = IsolationForestDetector(min_train=50, auto_fit=False)
    s = d.score_series(synthetic.noise()[:100])
    assert np.all(s == 0.0) and d.fit_due and d.model is None


def test_fit_async_runs_in_executor() -> None:
    d = IsolationForestDetector(auto_fit=False)
    for v in synthetic.noise().tolist():
        d.learn_one(v)

    async def main() -> None:
        await d.fit_async()

    asyncio.run(main())
    assert d.model is not None and not d.fit_due
    assert d.score_one(500.0) > d.score_one(50.0)


def test_fit_forest_is_pure() -> None:
    rows = np.random.default_rng(0).normal(size=(300, 5))
    a = fit_forest(rows, seed=3).score_samples(rows[:10])
    b = fit_forest(rows, seed=3).score_samples(rows[:10])
    np.testing.assert_array_equal(a, b)

"""The vectorised bank gives exactly the scalar ensemble's scores and alerts."""

from __future__ import annotations

import numpy as np

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.ensemble import Ensemble
from tests.anomaly import synthetic


def series(n_metrics: int = 6, n: int = 900) -> np.ndarray:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n, n_metrics)).cumsum(axis=0)
    x[300, 1] += 50.0
    x[200:, 2] = 5.0
    x[50, 3] = np.nan
    x[:, 4] = 3.0
    x[400:, 5] += 30.0
    return x


def test_bank_equals_scalar_ensembles_and_grows() -> None:
    x = series()
    names = [f"m{j}" for j in range(x.shape[1])]
    bank = DetectorBank(capacity=2)  # grows twice while adding
    scores = np.zeros_like(x)
    bank_alerts = []
    for i in range(len(x)):
        tick = bank.tick(float(i), {n: x[i, j] for j, n in enumerate(names)})
        scores[i] = [tick.scores[bank.rows[n]] for n in names]
        bank_alerts += [(i, n, a.kind) for n, a in tick.alerts]
    assert bank.capacity == 8
    for j, name in enumerate(names):
        e = Ensemble()
        expected, alerts = [], []
        for i in range(len(x)):
            expected.append(e.score_learn(float(x[i, j]), float(i)))
            if e.alert is not None:
                alerts.append((i, name, e.alert.kind))
        np.testing.assert_array_equal(scores[:, j], expected)
        assert alerts == [a for a in bank_alerts if a[1] == name]


def test_missing_samples_leave_state_alone() -> None:
    bank = DetectorBank(capacity=4)
    x = synthetic.spike()
    solo = Ensemble().score_series(x, [float(i) for i in range(len(x))])
    out = []
    for i, v in enumerate(x.tolist()):
        samples = {"a": v}
        if i % 3 == 0:
            samples["b"] = 1.0  # another metric on a slower cadence
        out.append(bank.tick(float(i), samples).scores[bank.rows["a"]])
    np.testing.assert_array_equal(out, solo)


def test_remove_and_reuse_row_starts_fresh() -> None:
    bank = DetectorBank(capacity=2)
    for i, v in enumerate(synthetic.noise().tolist()):
        bank.tick(float(i), {"old": v})
    row = bank.rows["old"]
    bank.remove("old")
    bank.add("other")  # the never-used row goes first; removed rows once none is left
    assert bank.add("new") == row
    x = synthetic.spike()
    out = [bank.tick(float(i), {"new": v}).scores[row] for i, v in enumerate(x.tolist())]
    np.testing.assert_array_equal(
        out, Ensemble().score_series(x, [float(i) for i in range(len(x))])
    )


def test_memory_per_metric_is_small() -> None:
    assert DetectorBank(capacity=64).nbytes_per_metric() <= 4096

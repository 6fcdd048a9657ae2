"""The ensemble's hot path writes its members' arithmetic out; it must stay the members'
own: fed the same stream, every member's state and every raw score match standalone
members that learn exactly the samples the ensemble learned (bit for bit)."""

from __future__ import annotations

import numpy as np

from chimera_engine.anomaly.ensemble import Ensemble, EnsembleConfig
from chimera_engine.anomaly.ewma import EWMADetector
from chimera_engine.anomaly.trend import TrendDetector
from chimera_engine.anomaly.zscore import ZScoreDetector


def _stream() -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(11)
    x = 50.0 + rng.normal(0.0, 1.0, 3000)
    x[800:830] += 40.0  # gated samples (a burst)
    x[1500:] += np.linspace(0.0, 80.0, 1500)  # a ramp: trend scores
    x[2200] = -900.0
    x[2500:2600] = 0.0  # a negative-to-small level (the floors' branches)
    t = 1.7e9 + 60.0 * np.arange(3000)
    return x.tolist(), t.tolist()


def _state(d: ZScoreDetector | EWMADetector | TrendDetector) -> tuple[float, ...]:
    return tuple(float(getattr(d, k)) for k in d.__slots__ if k not in ("name",))


def test_members_inside_the_ensemble_match_standalone_members() -> None:
    config = EnsembleConfig(weights=(1.0, 1.0, 1.0, 1.0, 1.0))  # every member scores
    ens = Ensemble(config)
    shadows = (ZScoreDetector(), EWMADetector(), TrendDetector())
    gated = 0
    xs, ts = _stream()
    for x, t in zip(xs, ts, strict=True):
        expected = [d.score_one(x) for d in shadows]
        skipped = ens.skipped
        ens.score_learn(x, t)
        if ens.alert is not None:  # the raw scores it read, through the member scores
            units = ens.alert.member_scores
            assert units["zscore"] > 0.0 or expected[0] == 0.0
        if ens.skipped == skipped + 1:
            gated += 1
        else:
            for d in shadows:
                d.learn_one(x)
        members = (ens.zscore, ens.ewma, ens.trend)
        assert [_state(m) for m in members] == [_state(d) for d in shadows]
        assert [m.score_one(x) for m in members] == [d.score_one(x) for d in shadows]
    assert gated > 0


def test_raw_scores_written_out_equal_the_members_methods() -> None:
    """Each record the hot path raised to a raw score holds exactly the raw score that
    the members' own methods give for that sample (``Ensemble._raw``)."""
    xs, ts = _stream()
    config = EnsembleConfig(weights=(1.0, 0.5, 0.25, 0.0, 0.0))
    ens = Ensemble(config)
    raised = 0
    for x, t in zip(xs, ts, strict=True):
        raws = ens._raw(x, t)  # member calls; no state change
        old = list(ens.records)
        ens.score_learn(x, t)
        for r, before, after in zip(raws, old, ens.records, strict=True):
            if after > before and after != before * config.record_growth:
                assert after == r
                raised += 1
    assert raised > 30

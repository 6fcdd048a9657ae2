"""Our NAB scorer: null = 0, perfect = 100, profile weights, and a smoke run on real data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "nab"))

from scorer import prepare_file, scaled_sigmoid, sweep  # noqa: E402

NAB = ROOT.parent / "shared" / "nab"


def one_file(scores: np.ndarray) -> list:
    ts = np.arange(1000, dtype=float)
    return [prepare_file("f.csv", ts, scores, [(400.0, 449.0), (700.0, 749.0)], 0)]


def test_null_and_perfect() -> None:
    assert sweep(one_file(np.zeros(1000)), "standard").normalised == pytest.approx(0.0)
    perfect = np.zeros(1000)
    perfect[[400, 700]] = 1.0
    result = sweep(one_file(perfect), "standard")
    assert result.normalised == pytest.approx(100.0)
    assert (result.tp, result.fp, result.fn) == (2, 0, 0)


def test_late_detection_and_false_positive_costs() -> None:
    s = np.zeros(1000)
    s[449] = 1.0  # last row of the first window: almost no credit
    s[300] = 1.0  # before any window: full FP cost
    r = sweep(one_file(s), "standard")
    assert r.tp == 0 or r.normalised < 50.0
    assert scaled_sigmoid(-1.0) > 0.98 and scaled_sigmoid(4.0) == -1.0


def test_probation_is_not_scored() -> None:
    s = np.zeros(1000)
    s[10] = 1.0  # inside the first 15%: ignored
    assert sweep(one_file(s), "reward_low_FP_rate").fp == 0


@pytest.mark.skipif(not (NAB / "combined_windows.json").exists(), reason="no NAB data")
def test_smoke_on_real_file() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks" / "nab"))
    from corpus import load_corpus

    from chimera_engine.anomaly.registry import make_series_scorer

    f = next(f for f in load_corpus(NAB) if f.name.endswith("ec2_cpu_utilization_825cc2.csv"))
    prepared = prepare_file(
        f.name, f.timestamps, make_series_scorer("ensemble")(f.values, f.timestamps), f.windows, 0
    )
    assert sweep([prepared], "standard").normalised > 0.0

"""Detectors by name, and series scorers in [0, 1] for batch tools and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from chimera_engine.anomaly.base import Detector, FloatArray
from chimera_engine.anomaly.context import ContextDetector
from chimera_engine.anomaly.ensemble import MEMBERS, Ensemble, EnsembleConfig
from chimera_engine.anomaly.ewma import EWMADetector
from chimera_engine.anomaly.iforest import IsolationForestDetector
from chimera_engine.anomaly.seasonal import SeasonalDetector
from chimera_engine.anomaly.trend import TrendDetector
from chimera_engine.anomaly.zscore import ZScoreDetector


def _only(member: str) -> Callable[[], Detector]:
    """The ensemble's calibration and suppression driven by one member alone (ablation)."""
    w = [1.0 if m == member else 0.0 for m in MEMBERS]
    weights = (w[0], w[1], w[2], w[3], w[4])
    config = replace(EnsembleConfig(), weights=weights)
    return lambda: Ensemble(config)


DETECTORS: dict[str, Callable[[], Detector]] = {
    "ensemble": Ensemble,
    **{f"ensemble[{m}]": _only(m) for m in MEMBERS},
    "context": ContextDetector,
    "zscore": ZScoreDetector,
    "ewma": EWMADetector,
    "trend": TrendDetector,
    "seasonal": SeasonalDetector,
    "iforest": IsolationForestDetector,
}

#: Detectors whose scores are already in [0, 1].
UNIT_SCORES = frozenset({"ensemble", "context", "iforest", *(f"ensemble[{m}]" for m in MEMBERS)})


def make_series_scorer(name: str) -> Callable[[FloatArray, FloatArray | None], FloatArray]:
    """A fresh detector wrapped as ``scores = f(values, timestamps)`` with scores in [0, 1].

    Raw scores ``s >= 0`` of the other detectors map monotonically to ``s / (1 + s)``.
    """
    detector = DETECTORS[name]()

    def run(values: FloatArray, timestamps: FloatArray | None = None) -> FloatArray:
        ts = None if timestamps is None else [float(t) for t in timestamps]
        scores = detector.score_series(values, ts)
        if name not in UNIT_SCORES:
            scores = scores / (1.0 + scores)
        return np.clip(scores, 0.0, 1.0)

    return run

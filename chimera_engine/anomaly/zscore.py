"""Z-score detector: distance from an exponentially weighted mean in standard deviations.

Score = ``|x - mean| / sqrt(var + floor**2)`` with ``floor = rel_floor * max(|mean|, 1)``:
the floor keeps a constant series from dividing by zero (a constant series
scores 0 forever; a real jump away from it scores high once, then the new level
is learned). The first ``warmup`` samples score 0.

>>> d = ZScoreDetector()
>>> float(d.score_series([5.0] * 40).max())
0.0
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import BatchDetector, BoolArray, Detector, FloatArray


class ZScoreDetector(Detector):
    """Exponentially weighted z-score (``alpha``: weight of a new sample, 0..1)."""

    name = "zscore"
    __slots__ = ("alpha", "mean", "n", "rel_floor", "var", "warmup")

    def __init__(self, alpha: float = 0.01, warmup: int = 20, rel_floor: float = 1e-3) -> None:
        self.alpha = alpha
        self.warmup = warmup
        self.rel_floor = rel_floor
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n < self.warmup or not math.isfinite(x):
            return 0.0
        mean = self.mean
        level = -mean if mean < 0.0 else mean
        floor = self.rel_floor * (1.0 if level < 1.0 else level)
        return abs(x - mean) / math.sqrt(self.var + floor * floor)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)


class ZScoreBatch(BatchDetector):
    """:class:`ZScoreDetector` for ``n`` metrics at once."""

    def __init__(self, n: int, alpha: float = 0.01, warmup: int = 20, rel_floor: float = 1e-3):
        self.alpha, self.warmup, self.rel_floor = alpha, warmup, rel_floor
        self.n = np.zeros(n)
        self.mean = np.zeros(n)
        self.var = np.zeros(n)

    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        self.n[rows] = 0.0
        self.mean[rows] = 0.0
        self.var[rows] = 0.0

    def score_many(self, xs: FloatArray) -> FloatArray:
        ok = np.isfinite(xs)
        floor = self.rel_floor * np.maximum(np.abs(self.mean), 1.0)
        score = np.abs(np.where(ok, xs, self.mean) - self.mean) / np.sqrt(self.var + floor * floor)
        score[(self.n < self.warmup) | ~ok] = 0.0
        return score

    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        ok = np.isfinite(xs) if mask is None else np.isfinite(xs) & mask
        self.n += ok
        a = np.where(ok, np.maximum(self.alpha, 1.0 / np.maximum(self.n, 1.0)), 0.0)
        d = np.where(ok, xs, self.mean) - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)

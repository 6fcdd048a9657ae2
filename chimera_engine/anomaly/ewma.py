"""EWMA control chart: a fast exponentially weighted level against the slow baseline.

Score = ``|fast - mean| / (sd * sqrt(a_fast / (2 - a_fast)))``: the number of
standard errors the smoothed level has moved, the classic EWMA chart
statistic. Smoothing makes it slower than the z-score on single spikes but far
more sensitive to small sustained shifts. Constant input scores 0 (the
standard deviation has a floor relative to the level).

>>> d = EWMADetector()
>>> s = d.score_series([10.0] * 50 + [10.5] * 10)
>>> bool(s[-1] > s[49])
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import BatchDetector, BoolArray, Detector, FloatArray


class EWMADetector(Detector):
    """EWMA chart; ``fast``/``slow`` are the weights of a new sample (0..1)."""

    name = "ewma"
    __slots__ = ("fast", "k", "level", "mean", "n", "rel_floor", "slow", "var", "warmup")

    def __init__(
        self, fast: float = 0.3, slow: float = 0.01, warmup: int = 20, rel_floor: float = 1e-3
    ) -> None:
        self.fast, self.slow, self.warmup, self.rel_floor = fast, slow, warmup, rel_floor
        self.k = math.sqrt(fast / (2.0 - fast))
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.level = 0.0
        self.mean = 0.0
        self.var = 0.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n < self.warmup or not math.isfinite(x):
            return 0.0
        level = self.level + self.fast * (x - self.level)
        mean = self.mean
        size = -mean if mean < 0.0 else mean
        floor = self.rel_floor * (1.0 if size < 1.0 else size)
        return abs(level - mean) / (math.sqrt(self.var + floor * floor) * self.k)

    def smoothed(self, x: float) -> float:
        """The fast level once ``x`` is included (no state change)."""
        return x if self.n == 0 else self.level + self.fast * (x - self.level)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        self.n += 1
        if self.n == 1:
            self.level = self.mean = x
            return
        self.level += self.fast * (x - self.level)
        a = max(self.slow, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)


class EWMABatch(BatchDetector):
    """:class:`EWMADetector` for ``n`` metrics at once."""

    def __init__(
        self,
        n: int,
        fast: float = 0.3,
        slow: float = 0.01,
        warmup: int = 20,
        rel_floor: float = 1e-3,
    ) -> None:
        self.fast, self.slow, self.warmup, self.rel_floor = fast, slow, warmup, rel_floor
        self.k = math.sqrt(fast / (2.0 - fast))
        self.n = np.zeros(n)
        self.level = np.zeros(n)
        self.mean = np.zeros(n)
        self.var = np.zeros(n)

    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        for arr in (self.n, self.level, self.mean, self.var):
            arr[rows] = 0.0

    def score_many(self, xs: FloatArray) -> FloatArray:
        ok = np.isfinite(xs)
        level = self.level + self.fast * (np.where(ok, xs, self.level) - self.level)
        floor = self.rel_floor * np.maximum(np.abs(self.mean), 1.0)
        score = np.abs(level - self.mean) / (np.sqrt(self.var + floor * floor) * self.k)
        score[(self.n < self.warmup) | ~ok] = 0.0
        return score

    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        ok = np.isfinite(xs) if mask is None else np.isfinite(xs) & mask
        first = ok & (self.n == 0)
        self.n += ok
        x = np.where(ok, xs, self.mean)
        self.level = np.where(
            first, x, self.level + np.where(ok, self.fast, 0.0) * (x - self.level)
        )
        a = np.where(ok & ~first, np.maximum(self.slow, 1.0 / np.maximum(self.n, 1.0)), 0.0)
        d = x - self.mean
        self.mean = np.where(first, x, self.mean + a * d)
        self.var = (1.0 - a) * (self.var + a * d * d)

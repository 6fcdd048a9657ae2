"""Trend / slope-change detector: the recent slope against the long-run slope.

The slope is the first difference ``x - previous x`` (per sample; gaps in time
are not rescaled). Score = ``|fast_slope - slow_slope| / (sd_diff * sqrt(a/(2-a)))``,
an EWMA chart on the differences: high when the series starts rising or
falling faster than it used to. Constant input scores 0.

>>> d = TrendDetector()
>>> s = d.score_series([1.0] * 60 + [1.0 + 0.5 * i for i in range(20)])
>>> bool(s[-1] > 3.0)
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import BatchDetector, BoolArray, Detector, FloatArray


class TrendDetector(Detector):
    """Slope change; ``fast``/``slow`` weight new differences (0..1)."""

    name = "trend"
    __slots__ = (
        "fast",
        "fast_slope",
        "k",
        "n",
        "prev",
        "rel_floor",
        "slow",
        "slow_slope",
        "var",
        "warmup",
    )

    def __init__(
        self, fast: float = 0.1, slow: float = 0.005, warmup: int = 20, rel_floor: float = 1e-4
    ) -> None:
        self.fast, self.slow, self.warmup, self.rel_floor = fast, slow, warmup, rel_floor
        self.k = math.sqrt(fast / (2.0 - fast))
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.prev = 0.0
        self.fast_slope = 0.0
        self.slow_slope = 0.0
        self.var = 0.0

    def score_one(self, x: float, t: float | None = None) -> float:
        if self.n < self.warmup or not math.isfinite(x):
            return 0.0
        prev = self.prev
        fs = self.fast_slope + self.fast * ((x - prev) - self.fast_slope)
        size = -prev if prev < 0.0 else prev
        floor = self.rel_floor * (1.0 if size < 1.0 else size)
        return abs(fs - self.slow_slope) / (math.sqrt(self.var + floor * floor) * self.k)

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        self.n += 1
        if self.n > 1:
            d = x - self.prev
            self.fast_slope += self.fast * (d - self.fast_slope)
            a = max(self.slow, 1.0 / (self.n - 1))
            e = d - self.slow_slope
            self.slow_slope += a * e
            self.var = (1.0 - a) * (self.var + a * e * e)
        self.prev = x


class TrendBatch(BatchDetector):
    """:class:`TrendDetector` for ``n`` metrics at once."""

    def __init__(
        self,
        n: int,
        fast: float = 0.1,
        slow: float = 0.005,
        warmup: int = 20,
        rel_floor: float = 1e-4,
    ) -> None:
        self.fast, self.slow, self.warmup, self.rel_floor = fast, slow, warmup, rel_floor
        self.k = math.sqrt(fast / (2.0 - fast))
        self.n = np.zeros(n)
        self.prev = np.zeros(n)
        self.fast_slope = np.zeros(n)
        self.slow_slope = np.zeros(n)
        self.var = np.zeros(n)

    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        for arr in (self.n, self.prev, self.fast_slope, self.slow_slope, self.var):
            arr[rows] = 0.0

    def score_many(self, xs: FloatArray) -> FloatArray:
        ok = np.isfinite(xs)
        d = np.where(ok, xs, self.prev) - self.prev
        fs = self.fast_slope + self.fast * (d - self.fast_slope)
        floor = self.rel_floor * np.maximum(np.abs(self.prev), 1.0)
        score = np.abs(fs - self.slow_slope) / (np.sqrt(self.var + floor * floor) * self.k)
        score[(self.n < self.warmup) | ~ok] = 0.0
        return score

    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        ok = np.isfinite(xs) if mask is None else np.isfinite(xs) & mask
        self.n += ok
        upd = ok & (self.n > 1)
        x = np.where(ok, xs, self.prev)
        d = x - self.prev
        self.fast_slope += np.where(upd, self.fast, 0.0) * (d - self.fast_slope)
        a = np.where(upd, np.maximum(self.slow, 1.0 / np.maximum(self.n - 1.0, 1.0)), 0.0)
        e = d - self.slow_slope
        self.slow_slope += a * e
        self.var = (1.0 - a) * (self.var + a * e * e)
        self.prev = x

"""Seasonal profile detector: distance from this hour-of-day's usual value.

Each sample falls in a bucket: hour of day (UTC), split weekday / weekend (48
buckets). Each bucket keeps an exponentially weighted mean and mean absolute
deviation of the values seen in it (``alpha`` per visit). Score =
``|x - mean_b| / (dev_b + floor)``: high when the value is unusual *for this
time of day*, e.g. a holiday on a daily-periodic metric. A bucket must have
been visited ``min_visits`` times before it scores (until then 0), and samples
without a timestamp score 0 and are not learned. ``alpha`` is the weight of a
visit ``visit_s`` seconds after the previous sample; closer samples weigh less
(a metric sampled every second must not let a bucket's mean follow the last
ten seconds). Memory: 48 x (two float32 + one uint16) per metric.

>>> d = SeasonalDetector()
>>> hours = [3600.0 * h for h in range(24 * 20)]
>>> day = [10.0 + (5.0 if (h % 24) in range(9, 18) else 0.0) for h in range(24 * 20)]
>>> s = d.score_series(day, hours)
>>> float(s[-1]), d.score_one(10.0, 3600.0 * (24 * 20 + 12)) > 3
(0.0, True)
"""

from __future__ import annotations

import math
from array import array

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import BatchDetector, BoolArray, Detector, FloatArray, power

N_BUCKETS = 48
DAY = 86400.0
#: A bucket's weight ``alpha`` is per visit of at least this many seconds: samples
#: closer together weigh less, so a bucket averages at least ~10 x 5 minutes.
VISIT_S = 300.0
MAX_VISITS = 65535


def bucket_of(t: float) -> int:
    """Bucket index of epoch second ``t``: hour of day, +24 on Saturday/Sunday (UTC)."""
    day = math.floor(t / DAY)
    hour = int((t - day * DAY) // 3600.0)
    weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    return hour + (24 if weekend else 0)


def visit_weight(alpha: float, dt: float, visit_s: float) -> float:
    """Weight of a sample ``dt`` seconds after the previous one (``alpha`` per ``visit_s``).

    >>> visit_weight(0.1, 300.0, 300.0), round(visit_weight(0.1, 1.0, 300.0), 6)
    (0.1, 0.000351)
    """
    if 0.0 < dt < visit_s:
        return float(1.0 - (1.0 - alpha) ** (dt / visit_s))
    return alpha


class SeasonalDetector(Detector):
    """Hour-of-day (weekday/weekend) profile residual."""

    name = "seasonal"
    __slots__ = (
        "_a",
        "_b",
        "_bt",
        "_dt",
        "alpha",
        "dev",
        "last_t",
        "mean",
        "min_visits",
        "rel_floor",
        "visit_s",
        "visits",
    )

    def __init__(
        self,
        alpha: float = 0.1,
        min_visits: int = 6,
        rel_floor: float = 1e-3,
        visit_s: float = VISIT_S,
    ) -> None:
        self.alpha, self.min_visits, self.rel_floor = alpha, min_visits, rel_floor
        self.visit_s = visit_s
        self.reset()

    def reset(self) -> None:
        self.mean = array("f", bytes(4 * N_BUCKETS))  # compact: 10 bytes a bucket
        self.dev = array("f", bytes(4 * N_BUCKETS))
        self.visits = array("H", bytes(2 * N_BUCKETS))
        self._bt = math.nan  # the time whose bucket is _b (one bucket_of per new time)
        self._b = 0
        self._dt = math.nan  # the latest spacing and its visit weight (one pow per new spacing)
        self._a = self.alpha
        self.last_t = math.nan

    def _bucket(self, t: float) -> int:
        if t != self._bt:
            self._b = bucket_of(t)
            self._bt = t
        return self._b

    def score_one(self, x: float, t: float | None = None) -> float:
        if t is None or not math.isfinite(x) or not math.isfinite(t):
            return 0.0
        b = self._bucket(t)
        if self.visits[b] < self.min_visits:
            return 0.0
        m = self.mean[b]
        size = -m if m < 0.0 else m
        return abs(x - m) / (self.dev[b] + self.rel_floor * (1.0 if size < 1.0 else size))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if t is None or not math.isfinite(x) or not math.isfinite(t):
            return
        dt = t - self.last_t
        self.last_t = t
        b = self._bucket(t)
        visits = self.visits
        v = visits[b] + 1
        if v > MAX_VISITS:
            v = MAX_VISITS
        visits[b] = v
        if dt != self._dt:
            self._dt = dt
            self._a = visit_weight(self.alpha, dt, self.visit_s)
        a = self._a
        if 1.0 / v > a:
            a = 1.0 / v
        mean = self.mean
        d = x - mean[b]
        mean[b] += a * d
        if v > 1:
            dev = self.dev
            dev[b] += a * (abs(d) - dev[b])


def buckets_of(ts: FloatArray) -> npt.NDArray[np.intp]:
    """:func:`bucket_of` of every (finite) time in ``ts``."""
    day = np.floor(ts / DAY)
    hour = (ts - day * DAY) // 3600.0
    weekend = np.mod(day + 3.0, 7.0) >= 5.0
    return np.asarray(hour + np.where(weekend, 24.0, 0.0), dtype=np.intp)


class SeasonalBatch(BatchDetector):
    """:class:`SeasonalDetector` for ``n`` metrics; ``t`` (set by the bank before
    scoring) is the time of each row's sample, or one time for all.

    The bucket tables are indexed through ``_rows`` (see
    :class:`~chimera_engine.anomaly.context.ContextBatch`).
    """

    def __init__(
        self,
        n: int,
        alpha: float = 0.1,
        min_visits: int = 6,
        rel_floor: float = 1e-3,
        visit_s: float = VISIT_S,
    ) -> None:
        self.alpha, self.min_visits, self.rel_floor = alpha, min_visits, rel_floor
        self.visit_s = visit_s
        self.mean = np.zeros((n, N_BUCKETS), dtype=np.float32)
        self.dev = np.zeros((n, N_BUCKETS), dtype=np.float32)
        self.visits = np.zeros((n, N_BUCKETS), dtype=np.uint16)
        self.last_t = np.full(n, np.nan)
        self.t: FloatArray = np.full(n, np.nan)
        self._rows = np.arange(n)

    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        self.mean[rows] = 0.0
        self.dev[rows] = 0.0
        self.visits[rows] = 0
        self.last_t[rows] = np.nan

    def _cells(self) -> tuple[BoolArray, tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
        t = np.broadcast_to(self.t, self._rows.shape)
        timed = np.isfinite(t)
        return timed, (self._rows, buckets_of(np.where(timed, t, 0.0)))

    def score_many(self, xs: FloatArray) -> FloatArray:
        timed, cell = self._cells()
        m = self.mean[cell].astype(np.float64)
        ok = timed & np.isfinite(xs) & (self.visits[cell] >= self.min_visits)
        floor = self.rel_floor * np.maximum(np.abs(m), 1.0)
        score = np.abs(np.where(ok, xs, m) - m) / (self.dev[cell].astype(np.float64) + floor)
        return np.where(ok, score, 0.0)

    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        timed, cell = self._cells()
        ok = timed & np.isfinite(xs)
        if mask is not None:
            ok &= mask
        t = np.broadcast_to(self.t, self._rows.shape)
        with np.errstate(invalid="ignore"):
            dt = t - self.last_t
            close = (dt > 0.0) & (dt < self.visit_s)
        weight = np.where(
            close,
            1.0 - power(1.0 - self.alpha, np.where(close, dt, 0.0) / self.visit_s),
            self.alpha,
        )
        self.last_t = np.where(ok, t, self.last_t)
        v = np.minimum(self.visits[cell].astype(np.float64) + ok, MAX_VISITS)
        self.visits[cell] = v
        a = np.where(ok, np.maximum(weight, 1.0 / np.maximum(v, 1.0)), 0.0)
        mean = self.mean[cell].astype(np.float64)
        d = np.where(ok, xs, mean) - mean
        self.mean[cell] = mean + a * d
        dev = self.dev[cell].astype(np.float64)
        self.dev[cell] = dev + np.where(v > 1, a, 0.0) * (np.abs(d) - dev)

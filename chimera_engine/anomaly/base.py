"""The detector API shared by every anomaly detector.

A detector follows one metric. For each new sample ``x`` (at time ``t``, epoch
seconds, optional) the caller first asks ``score_one(x, t)`` and then, if it
wants the detector to adapt, ``learn_one(x, t)``: *score before learn*. The
score is a non-negative float, higher is more anomalous; its scale is the
detector's own (a z-score, a ratio...). :class:`~chimera_engine.anomaly.ensemble.Ensemble`
calibrates scores to [0, 1].

Non-finite inputs (NaN, inf) never reach the state: ``score_one`` returns 0.0
and ``learn_one`` ignores them. Detectors are pure CPU and not thread-safe:
use one instance from one thread (the event loop), except where a class says
otherwise (IsolationForest fitting).

Batch form: :class:`BatchDetector` keeps the same state for ``n`` metrics in
numpy arrays and scores/learns a whole vector of samples (one per metric) in
one pass; see :mod:`chimera_engine.anomaly.bank`.

>>> from chimera_engine.anomaly.zscore import ZScoreDetector
>>> d = ZScoreDetector(warmup=5)
>>> scores = d.score_series([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 9.0])
>>> bool(scores[-1] > 5.0), float(scores[0])
(True, 0.0)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Detector(ABC):
    """One metric's streaming anomaly detector (score before learn)."""

    __slots__ = ()
    name: ClassVar[str] = "detector"

    @abstractmethod
    def score_one(self, x: float, t: float | None = None) -> float:
        """Anomaly score of ``x`` given what was learned so far; no state change."""

    @abstractmethod
    def learn_one(self, x: float, t: float | None = None) -> None:
        """Adapt the state to ``x``. Non-finite ``x`` is ignored."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything learned (back to the freshly constructed state)."""

    def score_learn(self, x: float, t: float | None = None) -> float:
        """``score_one`` then ``learn_one``; detectors may fuse the two for speed."""
        score = self.score_one(x, t)
        self.learn_one(x, t)
        return score

    def score_series(
        self, values: Sequence[float] | FloatArray, timestamps: Sequence[float] | None = None
    ) -> FloatArray:
        """Scores of a whole series, causally: row ``i`` sees rows ``0..i`` only.

        Continues from the current state (call :meth:`reset` first for a fresh run).
        """
        xs = np.asarray(values, dtype=np.float64).tolist()
        ts: list[float | None] = (
            [None] * len(xs) if timestamps is None else [float(t) for t in timestamps]
        )
        out = np.empty(len(xs), dtype=np.float64)
        step = self.score_learn
        for i, x in enumerate(xs):
            out[i] = step(x, ts[i])
        return out


class BatchDetector(ABC):
    """The same detector for ``n`` metrics at once, state in numpy arrays.

    ``xs`` holds one sample per metric (NaN = no sample this tick: the metric's
    score is 0 and its state is untouched). Row ``i`` of the batch behaves
    exactly like its own scalar detector fed the same samples.
    """

    @abstractmethod
    def score_many(self, xs: FloatArray) -> FloatArray:
        """One score per metric for this tick's samples; no state change."""

    @abstractmethod
    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        """Learn the samples of the rows where ``mask`` is true (all when None)."""

    def score_learn_many(self, xs: FloatArray) -> FloatArray:
        """``score_many`` then ``learn_many`` on every row."""
        scores = self.score_many(xs)
        self.learn_many(xs)
        return scores

    @abstractmethod
    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        """Fresh state for the given rows (a metric appeared or was replaced)."""


def is_finite(x: float) -> bool:
    """True for a real, finite number (cheap; used on the hot path)."""
    return not (math.isnan(x) or math.isinf(x))


def power(base: float, exponents: FloatArray) -> FloatArray:
    """``base ** e`` for every ``e``, rounded exactly as Python's float power: numpy's
    vectorised power may differ in the last bit, and a batch must decide like the
    scalar path. Cheap when the exponents are all equal (one sampling cadence)."""
    if exponents.size == 0:
        return np.empty(0)
    first = float(exponents.flat[0])
    if bool((exponents == first).all()):
        return np.full(exponents.shape, base**first)
    return np.array([base**e for e in exponents.tolist()], dtype=np.float64)

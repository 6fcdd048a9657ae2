"""Context novelty detector: our own design, tuned on nothing but its own stream.

Idea (in the spirit of NAB's contextual detectors, but hashed and vectorisable):

1. Quantise each value to one of ``levels`` bins of the range seen so far
   (running min/max, so the quantiser adapts and needs no configuration).
2. The last ``order`` symbols form contexts of lengths 1..order. Each context is
   hashed into a per-metric bit table of ``table_bits`` bits. A context whose
   bit is clear has never been seen: the raw novelty is the fraction of unseen
   contexts at this sample.
3. Novelty is smoothed (``smooth`` = weight of the new sample) and reported only
   when it rises above the decaying peak of recent novelty (``peak_decay`` per
   sample): a regime that keeps producing new contexts stops alarming, and one
   incident yields one high score instead of a plateau.

Scores are already in [0, 1]. A constant series produces one context, seen
forever after: score 0. The table saturates gracefully (old contexts stay
"seen"); memory is ``table_bits / 8`` bytes per metric.

>>> d = ContextDetector()
>>> s = d.score_series([float(i % 10) for i in range(400)] + [55.0, 3.0, 4.0])
>>> bool(s[:400][100:].max() == 0.0 and s[-3:].max() > 0.2)
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import BatchDetector, BoolArray, Detector, FloatArray

MASK32 = 0xFFFFFFFF
MULT = 1000003


class ContextDetector(Detector):
    """Hashed quantised-context novelty with relative suppression; scores in [0, 1]."""

    name = "context"
    __slots__ = (
        "hi",
        "levels",
        "lo",
        "n",
        "order",
        "peak",
        "peak_decay",
        "sm",
        "smooth",
        "syms",
        "table",
        "table_bits",
        "warmup",
    )

    def __init__(
        self,
        levels: int = 8,
        order: int = 6,
        table_bits: int = 1 << 14,
        smooth: float = 0.5,
        peak_decay: float = 0.995,
        warmup: int = 30,
    ) -> None:
        if table_bits & (table_bits - 1) or table_bits < 64:
            raise ValueError("table_bits must be a power of two >= 64")
        self.levels, self.order, self.table_bits = levels, order, table_bits
        self.smooth, self.peak_decay, self.warmup = smooth, peak_decay, warmup
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.syms: list[int] = []
        self.table = bytearray(self.table_bits // 8)
        self.sm = 0.0
        self.peak = 0.0

    def _contexts(self, x: float) -> list[int]:
        lo = min(self.lo, x)
        span = max(self.hi, x) - lo
        b = int((x - lo) / span * self.levels) if span > 0.0 else 0
        b = min(b, self.levels - 1)
        mask = self.table_bits - 1
        keys: list[int] = []
        h = b + 1
        keys.append((h ^ (h >> 13)) & mask)
        syms = self.syms
        for k in range(1, min(len(syms) + 1, self.order)):
            h = (h * MULT + syms[-k] + 1) & MASK32
            keys.append((h ^ (h >> 13)) & mask)
        keys.append(b)  # the symbol itself, returned last
        return keys

    def _novelty(self, keys: list[int]) -> float:
        table = self.table
        unseen = 0
        for key in keys[:-1]:
            if not table[key >> 3] & (1 << (key & 7)):
                unseen += 1
        return unseen / self.order

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x):
            return 0.0
        sm = self.sm + self.smooth * (self._novelty(self._contexts(x)) - self.sm)
        if self.n < self.warmup or sm <= self.peak:
            return 0.0
        return sm

    def learn_one(self, x: float, t: float | None = None) -> None:
        if math.isfinite(x):
            self._learn(x, self._contexts(x))

    def observe(self, x: float, remember: bool, keys: list[int] | None = None) -> float:
        """Advance on ``x`` and return the raw smoothed novelty (no suppression).

        ``remember=False`` moves the context window on without marking the
        contexts as seen: what the ensemble does for points it judged anomalous.
        ``keys`` may be the :meth:`contexts` of ``x`` computed just before (saves work).
        """
        if not math.isfinite(x):
            return 0.0
        return self._learn(x, self._contexts(x) if keys is None else keys, remember)

    def contexts(self, x: float) -> list[int]:
        """Hashed contexts of a finite ``x`` given the current state (for ``observe``)."""
        return self._contexts(x)

    def raw_novelty(self, x: float, keys: list[int] | None = None) -> float:
        """The smoothed novelty ``observe`` would return, without changing state."""
        if not math.isfinite(x):
            return 0.0
        keys = self._contexts(x) if keys is None else keys
        return self.sm + self.smooth * (self._novelty(keys) - self.sm)

    def probe(self, x: float) -> tuple[list[int], float]:
        """:meth:`contexts` and :meth:`raw_novelty` of a finite ``x`` in one pass (the
        ensemble's hot path); hand both to :meth:`advance`. No state change."""
        lo = x if x < self.lo else self.lo
        span = (x if x > self.hi else self.hi) - lo
        levels = self.levels
        b = int((x - lo) / span * levels) if span > 0.0 else 0
        if b >= levels:
            b = levels - 1
        mask = self.table_bits - 1
        table = self.table
        h = b + 1
        key = (h ^ (h >> 13)) & mask
        keys = [key]
        unseen = 0 if table[key >> 3] & (1 << (key & 7)) else 1
        syms = self.syms
        for k in range(1, min(len(syms) + 1, self.order)):
            h = (h * MULT + syms[-k] + 1) & MASK32
            key = (h ^ (h >> 13)) & mask
            keys.append(key)
            if not table[key >> 3] & (1 << (key & 7)):
                unseen += 1
        keys.append(b)  # the symbol itself, returned last
        return keys, self.sm + self.smooth * (unseen / self.order - self.sm)

    def advance(self, x: float, keys: list[int], sm: float, remember: bool) -> None:
        """:meth:`observe` with the ``(keys, sm)`` that :meth:`probe` returned for ``x``."""
        if remember:
            table = self.table
            for key in keys[:-1]:
                table[key >> 3] |= 1 << (key & 7)
        syms = self.syms
        syms.append(keys[-1])
        if len(syms) > self.order:
            del syms[0]
        if x < self.lo:
            self.lo = x
        if x > self.hi:
            self.hi = x
        self.n += 1
        self.sm = sm
        peak = self.peak * self.peak_decay
        self.peak = peak if peak >= sm else sm

    def _learn(self, x: float, keys: list[int], remember: bool = True) -> float:
        sm = self.sm + self.smooth * (self._novelty(keys) - self.sm)
        self.advance(x, keys, sm, remember)
        return sm

    def score_learn(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x):
            return 0.0
        peak, n = self.peak, self.n
        sm = self._learn(x, self._contexts(x))
        return sm if n >= self.warmup and sm > peak else 0.0


class ContextBatch(BatchDetector):
    """:class:`ContextDetector` for ``n`` metrics at once (identical scores per row).

    The bit tables are indexed through ``_rows`` (the table row of each batch row): a
    bank working on a subset of its metrics points ``_rows`` at them instead of
    copying their tables.
    """

    def __init__(
        self,
        n: int,
        levels: int = 8,
        order: int = 6,
        table_bits: int = 1 << 14,
        smooth: float = 0.5,
        peak_decay: float = 0.995,
        warmup: int = 30,
    ) -> None:
        self.levels, self.order, self.table_bits = levels, order, table_bits
        self.smooth, self.peak_decay, self.warmup = smooth, peak_decay, warmup
        self.n = np.zeros(n)
        self.lo = np.full(n, np.inf)
        self.hi = np.full(n, -np.inf)
        self.syms = np.zeros((n, order), dtype=np.int64)
        self.table = np.zeros((n, table_bits // 8), dtype=np.uint8)
        self.sm = np.zeros(n)
        self.peak = np.zeros(n)
        self._rows = np.arange(n)

    def reset_rows(self, rows: npt.NDArray[np.intp]) -> None:
        for arr, value in ((self.n, 0.0), (self.lo, np.inf), (self.hi, -np.inf)):
            arr[rows] = value
        self.sm[rows] = 0.0
        self.peak[rows] = 0.0
        self.syms[rows] = 0
        self.table[rows] = 0

    def _keys(self, xs: FloatArray, ok: BoolArray) -> tuple[npt.NDArray[np.int64], BoolArray]:
        x = np.where(ok, xs, 0.0)
        lo = np.minimum(self.lo, x)
        span = np.maximum(self.hi, x) - lo
        safe = np.where(span > 0.0, span, 1.0)
        b = np.where(span > 0.0, np.floor((x - lo) / safe * self.levels), 0.0)
        b = np.minimum(np.nan_to_num(b), self.levels - 1).astype(np.int64)
        mask = self.table_bits - 1
        keys = np.empty((len(xs), self.order + 1), dtype=np.int64)
        valid = np.zeros((len(xs), self.order), dtype=np.bool_)
        h = b + 1
        keys[:, 0] = (h ^ (h >> 13)) & mask
        valid[:, 0] = True
        for k in range(1, self.order):
            h = (h * MULT + self.syms[:, -k] + 1) & MASK32
            keys[:, k] = (h ^ (h >> 13)) & mask
            valid[:, k] = self.n >= k
        keys[:, self.order] = b
        return keys, valid

    def _novelty(self, keys: npt.NDArray[np.int64], valid: BoolArray) -> FloatArray:
        k = keys[:, : self.order]
        bytes_ = self.table[self._rows[:, None], k >> 3]
        unseen = ((bytes_ >> (k & 7).astype(np.uint8)) & 1) == 0
        return np.asarray(np.sum(unseen & valid, axis=1) / self.order, dtype=np.float64)

    def score_many(self, xs: FloatArray) -> FloatArray:
        ok = np.isfinite(xs)
        keys, valid = self._keys(xs, ok)
        sm = self.sm + self.smooth * (self._novelty(keys, valid) - self.sm)
        return np.where(ok & (self.n >= self.warmup) & (sm > self.peak), sm, 0.0)

    def learn_many(self, xs: FloatArray, mask: BoolArray | None = None) -> None:
        ok = np.isfinite(xs) if mask is None else np.isfinite(xs) & mask
        keys, valid = self._keys(xs, ok)
        self._learn(xs, ok, keys, valid)

    def raw_novelty(self, xs: FloatArray) -> FloatArray:
        """Smoothed novelty per row (0 for non-finite samples), no state change."""
        ok = np.isfinite(xs)
        keys, valid = self._keys(xs, ok)
        sm = self.sm + self.smooth * (self._novelty(keys, valid) - self.sm)
        return np.where(ok, sm, 0.0)

    def observe(self, xs: FloatArray, remember: BoolArray) -> FloatArray:
        """Advance every finite row; mark contexts seen only where ``remember``."""
        ok = np.isfinite(xs)
        keys, valid = self._keys(xs, ok)
        return np.where(ok, self._learn(xs, ok, keys, valid, remember), 0.0)

    def _learn(
        self,
        xs: FloatArray,
        ok: BoolArray,
        keys: npt.NDArray[np.int64],
        valid: BoolArray,
        remember: BoolArray | None = None,
    ) -> FloatArray:
        sm = self.sm + self.smooth * (self._novelty(keys, valid) - self.sm)
        rows = np.nonzero(ok)[0]
        mem = rows if remember is None else np.nonzero(ok & remember)[0]
        for k in range(self.order):
            sel = mem[valid[mem, k]]
            key = keys[sel, k]
            self.table[self._rows[sel], key >> 3] |= (1 << (key & 7)).astype(np.uint8)
        self.syms[rows, :-1] = self.syms[rows, 1:]
        self.syms[rows, -1] = keys[rows, self.order]
        x = np.where(ok, xs, 0.0)
        self.lo = np.where(ok, np.minimum(self.lo, x), self.lo)
        self.hi = np.where(ok, np.maximum(self.hi, x), self.hi)
        self.n += ok
        self.sm = np.where(ok, sm, self.sm)
        self.peak = np.where(ok, np.maximum(self.peak * self.peak_decay, sm), self.peak)
        return sm

    def score_learn_many(self, xs: FloatArray) -> FloatArray:
        ok = np.isfinite(xs)
        keys, valid = self._keys(xs, ok)
        peak, n = self.peak.copy(), self.n.copy()
        sm = self._learn(xs, ok, keys, valid)
        return np.where(ok & (n >= self.warmup) & (sm > peak), sm, 0.0)

"""TimeSeriesBuffer: a compact numpy ring of (timestamp, value) samples for one metric.

Storage: one packed numpy array of (float64 value, float32 timestamp *offset*
in seconds from a float64 base), 12 bytes a sample: 1,000 points take 12,000
bytes plus ~200 bytes of object overhead (see :meth:`TimeSeriesBuffer.nbytes`). Offsets keep
millisecond precision over ~2 hours and 0.1 s over ~12 days since the base; the
base moves forward (rebasing the offsets) when the span would grow beyond
``REBASE_SPAN`` seconds.

Rules, each counted so a caller can report a clear status:

- non-finite values (NaN, inf) are rejected (``rejected_nonfinite``);
- a timestamp older than the newest one held is *dropped*
  (``rejected_out_of_order``): the ring stays sorted, which forecasting and
  windows rely on; equal timestamps are accepted;
- when full, the oldest sample is overwritten.

Not thread-safe; use from one thread.

>>> b = TimeSeriesBuffer(capacity=3)
>>> for t, v in [(1.0, 10.0), (2.0, 11.0), (3.0, float("nan")), (4.0, 12.0), (5.0, 13.0)]:
...     _ = b.append(t, v)
>>> b.values().tolist(), b.timestamps().tolist(), b.rejected_nonfinite
([11.0, 12.0, 13.0], [2.0, 4.0, 5.0], 1)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

REBASE_SPAN = 1.0e6
_DTYPE = np.dtype([("val", np.float64), ("off", np.float32)])  # packed: 12 bytes a sample


class TimeSeriesBuffer:
    """Fixed-capacity ring of samples, oldest first on read."""

    __slots__ = (
        "_base",
        "_data",
        "_head",
        "_len",
        "capacity",
        "last_t",
        "rejected_nonfinite",
        "rejected_out_of_order",
    )

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=_DTYPE)
        self._base = math.nan
        self._head = 0  # next write position
        self._len = 0
        self.last_t = -math.inf
        self.rejected_nonfinite = 0
        self.rejected_out_of_order = 0

    def __len__(self) -> int:
        return self._len

    def append(self, t: float, value: float) -> bool:
        """Store one sample; False (and a counter bumped) when it is rejected."""
        if not (math.isfinite(value) and math.isfinite(t)):
            self.rejected_nonfinite += 1
            return False
        if t < self.last_t:
            self.rejected_out_of_order += 1
            return False
        if self._len == 0:
            self._base = t
        elif t - self._base > REBASE_SPAN:
            self._rebase(t)
        self._data[self._head] = (value, t - self._base)
        self._head = (self._head + 1) % self.capacity
        self._len = min(self._len + 1, self.capacity)
        self.last_t = t
        return True

    def _rebase(self, t: float) -> None:
        oldest = float(self.timestamps()[0]) if self._len else t
        new_base = max(oldest, t - REBASE_SPAN / 2)
        off = self._data["off"]
        off[:] = (off.astype(np.float64) + (self._base - new_base)).astype(np.float32)
        self._base = new_base

    def _order(self) -> npt.NDArray[np.intp]:
        start = (self._head - self._len) % self.capacity
        return (start + np.arange(self._len)) % self.capacity

    def values(self) -> npt.NDArray[np.float64]:
        """All held values, oldest first (a copy)."""
        return np.asarray(self._data["val"][self._order()], dtype=np.float64)

    def timestamps(self) -> npt.NDArray[np.float64]:
        """All held timestamps (epoch seconds, float64), oldest first."""
        return np.asarray(self._data["off"][self._order()], dtype=np.float64) + self._base

    def latest(self, n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The newest ``n`` samples as (timestamps, values), oldest first."""
        idx = self._order()[max(0, self._len - n) :]
        rows = self._data[idx]
        ts = np.asarray(rows["off"], dtype=np.float64) + self._base
        return ts, np.asarray(rows["val"], dtype=np.float64)

    def window(self, since: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Samples with timestamp >= ``since`` as (timestamps, values)."""
        ts, vs = self.timestamps(), self.values()
        i = int(np.searchsorted(ts, since, side="left"))
        return ts[i:], vs[i:]

    def clear(self) -> None:
        """Drop every sample (counters are kept)."""
        self._len = 0
        self._head = 0
        self.last_t = -math.inf

    def nbytes(self) -> int:
        """Bytes held by this buffer: arrays plus object overhead (approximate)."""
        import sys

        return int(sys.getsizeof(self._data) + sys.getsizeof(self))

"""TimeSeriesBuffer: a compact numpy ring of (timestamp, value) samples for one metric.

Storage: one packed numpy array of 8 bytes a sample, 1,000 points in 8,000
bytes plus ~250 bytes of object overhead (see :meth:`TimeSeriesBuffer.nbytes`):

- the value as a float32 *offset* from a float64 base value (the first value
  held, moved when values stray far from it): the error is at most 6e-8 of the
  distance from the base, so a metric near 1.7e9 with unit steps stays exact
  and any value keeps ~7 significant digits. Detection never reads the buffer
  (the detectors see every sample at full precision); charts and forecasts do.
- the timestamp as uint32 *ticks* of ``tick_s`` seconds (1/1024 s to start,
  exact in binary) after a float64 base time. The base moves forward to the
  oldest sample held when the offsets would overflow (~48 days); only when the
  samples held span
  more than that (a slow metric) does the tick double, so the resolution is
  always better than span / 4e9.

Rules, each counted so a caller can report a clear status:

- non-finite values (NaN, inf) and values beyond ``±VALUE_LIMIT`` are rejected
  (``rejected_nonfinite``): the float32 offsets could not hold them, and a rebase
  onto such a value would turn every sample already held into infinity;
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
import sys

import numpy as np
import numpy.typing as npt

from chimera_engine.metrics.limits import VALUE_LIMIT as VALUE_LIMIT

MAX_TICKS = 2**32 - 1
TICK_S = 2.0**-10
#: The value base moves to the new value once values are this many times
#: further from it than from zero (float32 around 0 is then the better choice).
REBASE_VALUE = 4.0
_DTYPE = np.dtype([("val", np.float32), ("tick", np.uint32)])  # packed: 8 bytes a sample


class TimeSeriesBuffer:
    """Fixed-capacity ring of samples, oldest first on read."""

    __slots__ = (
        "_data",
        "_head",
        "_len",
        "_t0",
        "_v0",
        "capacity",
        "last_t",
        "rejected_nonfinite",
        "rejected_out_of_order",
        "tick_s",
    )

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=_DTYPE)
        self._t0 = math.nan
        self._v0 = 0.0
        self.tick_s = TICK_S
        self._head = 0  # next write position
        self._len = 0
        self.last_t = -math.inf
        self.rejected_nonfinite = 0
        self.rejected_out_of_order = 0

    def __len__(self) -> int:
        return self._len

    def append(self, t: float, value: float) -> bool:
        """Store one sample; False (and a counter bumped) when it is rejected."""
        if not (-VALUE_LIMIT <= value <= VALUE_LIMIT and math.isfinite(t)):  # NaN fails too
            self.rejected_nonfinite += 1
            return False
        if t < self.last_t:
            self.rejected_out_of_order += 1
            return False
        if self._len == 0:
            self._t0, self._v0 = t, value
        elif abs(value - self._v0) > REBASE_VALUE * abs(value) + 1.0:
            self._rebase_values(value)
        tick = round((t - self._t0) / self.tick_s)
        if tick > MAX_TICKS:
            tick = self._rebase_time(t)
        self._data[self._head] = (value - self._v0, tick)
        self._head = (self._head + 1) % self.capacity
        self._len = min(self._len + 1, self.capacity)
        self.last_t = t
        return True

    def _rebase_values(self, value: float) -> None:
        vals = self._data["val"]
        vals[:] = (vals.astype(np.float64) + (self._v0 - value)).astype(np.float32)
        self._v0 = value

    def _rebase_time(self, t: float) -> int:
        """Move the base to the oldest sample held (coarsen the tick if still too far)."""
        ticks = self._data["tick"]
        held = self._order()
        oldest = int(ticks[held[0]]) if self._len else 0
        if self._len:
            ticks[held] -= np.uint32(oldest)
        self._t0 += oldest * self.tick_s
        while round((t - self._t0) / self.tick_s) > MAX_TICKS:
            self.tick_s *= 2.0
            ticks[held] //= np.uint32(2)
        return round((t - self._t0) / self.tick_s)

    def _order(self) -> npt.NDArray[np.intp]:
        start = (self._head - self._len) % self.capacity
        return (start + np.arange(self._len)) % self.capacity

    def _times(self, rows: npt.NDArray[np.void]) -> npt.NDArray[np.float64]:
        return np.asarray(rows["tick"], dtype=np.float64) * self.tick_s + self._t0

    def _values(self, rows: npt.NDArray[np.void]) -> npt.NDArray[np.float64]:
        return np.asarray(rows["val"], dtype=np.float64) + self._v0

    def values(self) -> npt.NDArray[np.float64]:
        """All held values, oldest first (a copy)."""
        return self._values(self._data[self._order()])

    def timestamps(self) -> npt.NDArray[np.float64]:
        """All held timestamps (epoch seconds, float64), oldest first."""
        return self._times(self._data[self._order()])

    def latest(self, n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The newest ``n`` samples as (timestamps, values), oldest first."""
        rows = self._data[self._order()[max(0, self._len - n) :]]
        return self._times(rows), self._values(rows)

    def window(self, since: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Samples with timestamp >= ``since`` as (timestamps, values)."""
        rows = self._data[self._order()]
        ts = self._times(rows)
        i = int(np.searchsorted(ts, since, side="left"))
        return ts[i:], self._values(rows[i:])

    def clear(self) -> None:
        """Drop every sample (counters are kept)."""
        self._len = 0
        self._head = 0
        self.last_t = -math.inf
        self.tick_s = TICK_S

    def nbytes(self) -> int:
        """Bytes held by this buffer: the array plus the object itself."""
        return int(sys.getsizeof(self._data) + sys.getsizeof(self))

"""TimeSeriesBuffer: ring order, windows, bad input, and its size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chimera_engine.metrics.buffer import VALUE_LIMIT, TimeSeriesBuffer


def test_ring_keeps_newest_in_order() -> None:
    b = TimeSeriesBuffer(capacity=1000)
    t0 = 1.7e9
    for i in range(2500):
        assert b.append(t0 + i, float(i))
    assert len(b) == 1000
    np.testing.assert_array_equal(b.values(), np.arange(1500, 2500, dtype=float))
    np.testing.assert_allclose(b.timestamps(), t0 + np.arange(1500, 2500), atol=1e-3)
    ts, vs = b.latest(3)
    assert ts[-1] == pytest.approx(t0 + 2499, abs=1e-3)
    assert vs.tolist() == [2497.0, 2498.0, 2499.0]
    _, vs = b.window(t0 + 2490)
    assert vs.tolist() == [float(i) for i in range(2490, 2500)]


def test_rejects_nan_and_out_of_order_with_counters() -> None:
    b = TimeSeriesBuffer(capacity=10)
    assert b.append(10.0, 1.0)
    assert not b.append(11.0, math.nan)
    assert not b.append(12.0, math.inf)
    assert not b.append(9.0, 2.0)
    assert b.append(10.0, 3.0)  # equal timestamps are fine
    assert (b.rejected_nonfinite, b.rejected_out_of_order) == (2, 1)
    assert b.values().tolist() == [1.0, 3.0]


def test_long_running_rebase_keeps_precision() -> None:
    b = TimeSeriesBuffer(capacity=100)
    t = 1.7e9
    for i in range(5000):
        b.append(t + i * 600.0, float(i))  # 10-minute samples over ~35 days
    np.testing.assert_allclose(np.diff(b.timestamps()), 600.0, atol=0.05)
    assert b.timestamps()[-1] == pytest.approx(t + 4999 * 600.0, abs=0.05)


def test_memory_at_1000_points() -> None:
    b = TimeSeriesBuffer(capacity=1000)
    assert b.nbytes() <= 12 * 1024


def test_clear_and_bad_capacity() -> None:
    b = TimeSeriesBuffer(capacity=5)
    b.append(1.0, 1.0)
    b.clear()
    assert len(b) == 0 and b.values().size == 0
    with pytest.raises(ValueError, match="capacity"):
        TimeSeriesBuffer(capacity=0)


def test_a_value_beyond_the_limit_is_refused_and_the_ring_stays_finite() -> None:
    b = TimeSeriesBuffer(capacity=10)
    for i in range(3):
        assert b.append(float(i), 10.0 + i)
    # A rebase onto 1e300 would have cast every held sample to -inf.
    assert not b.append(3.0, 1e300)
    assert not b.append(4.0, -1e300)
    assert b.append(5.0, VALUE_LIMIT)  # the limit itself is kept
    assert b.rejected_nonfinite == 2
    assert np.isfinite(b.values()).all()
    assert b.values().tolist()[:3] == [10.0, 11.0, 12.0]

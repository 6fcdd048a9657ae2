"""Bad input and long runs: precise compact storage, quiet on noise sampled every second,
a NaN storm or a flapping metric never leaves a stuck anomaly rate; doctests."""

from __future__ import annotations

import doctest
import math
from types import ModuleType

import numpy as np
import pytest

from chimera_engine.anomaly import floors, forecast, predictions, seasonal
from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.metrics import buffer, settings
from chimera_engine.metrics.buffer import TimeSeriesBuffer


@pytest.mark.parametrize("module", [buffer, settings, predictions, floors, forecast, seasonal])
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_buffer_values_near_a_large_base_stay_exact_and_rebase_to_zero() -> None:
    b = TimeSeriesBuffer(capacity=100)
    for i in range(50):
        b.append(1000.0 + i, 1.7e9 + i)  # e.g. a "last success" timestamp metric
    assert b.values()[-1] == 1.7e9 + 49 and b.values()[0] == 1.7e9
    b.append(1100.0, 0.25)  # far closer to zero than to the base: the base moves
    assert b.values()[-1] == 0.25
    assert b.values()[-2] == pytest.approx(1.7e9 + 49, rel=1e-7)  # float32 now


def test_buffer_slow_metric_spanning_months_coarsens_its_tick() -> None:
    b = TimeSeriesBuffer(capacity=200)
    day = 86400.0
    for i in range(200):
        b.append(1.7e9 + i * day, float(i))  # one sample a day for 200 days
    ts = b.timestamps()
    np.testing.assert_allclose(np.diff(ts), day, atol=0.01)
    assert ts[-1] == pytest.approx(1.7e9 + 199 * day, abs=0.01)
    assert b.nbytes() <= 200 * 8 + 400


def test_whole_metric_fits_in_12_kb() -> None:
    import tracemalloc

    eng = AnomalyDetectionEngine()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for m in range(20):
        for i in range(1000):
            eng.observe(f"m{m}", 1.7e9 + i, float(i % 17))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_metric = sum(s.size_diff for s in after.compare_to(before, "filename")) / 20
    assert per_metric <= 12 * 1024


def test_fast_gaussian_noise_raises_few_false_alarms() -> None:
    rng = np.random.default_rng(7)
    eng = AnomalyDetectionEngine()
    hours = 3
    alerts = sum(
        eng.observe("noise", 1.7e9 + i, x) is not None
        for i, x in enumerate((50.0 + rng.normal(size=hours * 3600)).tolist())
    )
    assert alerts / hours < 0.5


def test_nan_storm_and_flapping_metric_recover() -> None:
    rng = np.random.default_rng(8)
    eng = AnomalyDetectionEngine()
    t = 1.7e9
    events = 0
    for i in range(3000):
        t += 1.0
        bad = 1000 <= i < 1500 or (i % 7 == 0)
        value = math.nan if bad else 10.0 + rng.normal()
        events += eng.observe("m", t, value) is not None
        if i == 2000:
            eng.remove("m")  # the metric disappeared; it comes back fresh
    st = eng.status("m")
    assert st is not None and st.state == "ok" and st.samples > 800 and st.nonfinite > 0
    assert events <= 2, "no stuck anomaly rate after the storm"

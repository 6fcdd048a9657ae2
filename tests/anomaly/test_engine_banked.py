"""Banked metrics (scored in one numpy pass per batch) decide exactly like metrics with
their own ensemble: the same scores, alerts, bands, re-arms and input counters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chimera_engine.anomaly.engine import (
    BANK_MIN,
    JOIN_AFTER,
    AnomalyDetectionEngine,
    AnomalyEvent,
)
from chimera_engine.metrics.settings import MetricSettings

T0 = 1.7e9
NAMES = ("tool.latency_ms", "agent.rss_mb", "tool.error_rate", "host.cpu_percent", "svc.q")


def workload(n_metrics: int, n_ticks: int, seed: int = 3) -> list[list[tuple[str, float, float]]]:
    """Ticks of (metric, t, value): noise with spikes, level shifts, a burst, a leak,
    bad input (NaN, inf, a late sample), jittered times and a metric sampled twice a tick."""
    rng = np.random.default_rng(seed)
    keys = [f"{NAMES[j % len(NAMES)]}{{tool=t{j}}}" for j in range(n_metrics)]
    base = rng.uniform(1, 300, n_metrics)
    noise = rng.uniform(0.001, 0.05, n_metrics) * base
    ticks: list[list[tuple[str, float, float]]] = []
    for i in range(n_ticks):
        tick: list[tuple[str, float, float]] = []
        for j, key in enumerate(keys):
            x = base[j] + noise[j] * rng.standard_normal()
            if j % 7 == 1 and i in (400, 401, 402):
                x += 40 * noise[j]  # a short burst
            if j % 7 == 2 and i >= 500:
                x += 25 * noise[j]  # a level shift
            if j % 7 == 3 and 450 <= i < 560:
                x += (i - 450) * noise[j] * 0.5  # a leak that ends
            if j % 7 == 4 and i == 300:
                x = math.nan
            if j % 11 == 5 and i == 350:
                x = math.inf
            t = T0 + i * 5.0 + float(rng.uniform(0, 0.5))
            if j % 13 == 6 and i == 420:
                t -= 20.0  # out of order
            tick.append((key, t, float(x)))
            if j % 9 == 0 and i % 4 == 0:
                tick.append((key, t + 2.0, float(x + noise[j] * rng.standard_normal())))
        ticks.append(tick)
    return ticks


def run(banked: bool, ticks: list[list[tuple[str, float, float]]]) -> tuple[object, ...]:
    engine = AnomalyDetectionEngine()
    keys = sorted({k for tick in ticks for k, _, _ in tick})
    engine.configure(keys[3], MetricSettings(detector="zscore", sensitivity=0.9))
    events: list[AnomalyEvent] = []
    scores: list[list[float | None]] = []
    rearmed: list[tuple[int, str]] = []
    for i, tick in enumerate(ticks):
        if i == 200:
            engine.configure(keys[5], MetricSettings(sensitivity=0.2))
        if banked:
            events += engine.observe_many(*zip(*tick, strict=True))  # type: ignore[arg-type]
        else:
            for key, t, x in tick:
                event = engine.observe(key, t, x)
                if event is not None:
                    events.append(event)
        scores.append([engine.score(k) for k in keys])
        if i % 25 == 0:
            rearmed += [(i, k) for k in keys if engine.rearm(k)]
    if banked:
        assert all(engine.banked(k) for k in keys)
    statuses = [engine.status(k) for k in keys]
    bands = [engine.normal_band(k) for k in keys]
    return events, scores, rearmed, statuses, bands


def test_banked_metrics_decide_exactly_like_their_own_ensembles() -> None:
    ticks = workload(n_metrics=BANK_MIN + 6, n_ticks=700)
    events, scores, rearmed, statuses, bands = run(True, ticks)
    want = run(False, ticks)
    assert len(events) > 10 and rearmed  # alerts and re-arms happened
    assert sorted(events, key=lambda e: (e.t, e.metric)) == sorted(
        want[0], key=lambda e: (e.t, e.metric)
    )
    assert (scores, rearmed, statuses, bands) == want[1:]


def test_small_batches_and_lone_samples_use_own_ensembles_and_agree() -> None:
    engine = AnomalyDetectionEngine()
    engine.observe_many(["a", "b"], [T0, T0], [1.0, 2.0])
    assert not engine.banked("a") and not engine.banked("b")
    keys = [f"m{j}" for j in range(BANK_MIN)]
    engine.observe_many(keys, [T0] * BANK_MIN, [1.0] * BANK_MIN)
    assert all(engine.banked(k) for k in keys)
    engine.observe("m0", T0 + 1, 1.0)  # a lone sample: m0 moves to its own ensemble
    assert not engine.banked("m0") and engine.banked("m1")
    for i in range(2, 2 + JOIN_AFTER):  # ... and back with its JOIN_AFTER-th large batch
        assert not engine.banked("m0")
        engine.observe_many(keys, [T0 + i] * BANK_MIN, [1.0] * BANK_MIN)
    assert engine.banked("m0")


def test_metrics_moving_in_and_out_of_the_bank_lose_nothing() -> None:
    """Lone samples between batches move metrics out of the bank and back in; every
    score, alert, band and counter stays what an own ensemble gives."""
    ticks = workload(n_metrics=BANK_MIN + 2, n_ticks=700, seed=5)
    engine, solo = AnomalyDetectionEngine(), AnomalyDetectionEngine()
    got: list[AnomalyEvent] = []
    want: list[AnomalyEvent] = []
    moves = 0
    for i, tick in enumerate(ticks):
        alone = {k for k, _, _ in tick[(i // 40) % 5 :: 9]} if i % 40 < 6 else set()
        batch = [s for s in tick if s[0] not in alone]
        for key, t, x in tick:
            if key in alone:
                moves += engine.banked(key)
                got += [e for e in [engine.observe(key, t, x)] if e is not None]
        got += engine.observe_many(*zip(*batch, strict=True))  # type: ignore[arg-type]
        for key, t, x in [s for s in tick if s[0] in alone] + batch:
            want += [e for e in [solo.observe(key, t, x)] if e is not None]
        if i % 25 == 0:
            for key in [*sorted(alone), tick[0][0]]:
                assert engine.rearm(key) == solo.rearm(key)
        for key in {k for k, _, _ in tick}:
            assert engine.score(key) == solo.score(key)
    assert moves > 20 and len(want) > 10
    order = lambda e: (e.t, e.metric)  # noqa: E731
    assert sorted(got, key=order) == sorted(want, key=order)
    for key in solo.metrics():
        assert engine.status(key) == solo.status(key)
        assert engine.normal_band(key) == solo.normal_band(key)


def test_removed_banked_metric_starts_afresh_and_its_row_is_reused() -> None:
    engine = AnomalyDetectionEngine()
    keys = [f"m{j}" for j in range(BANK_MIN)]
    for i in range(50):
        engine.observe_many(keys, [T0 + i] * BANK_MIN, [float(i % 3)] * BANK_MIN)
    engine.remove("m0")
    assert "m0" not in engine.metrics()
    engine.observe_many(["n0", *keys[1:]], [T0 + 60] * BANK_MIN, [5.0] * BANK_MIN)
    status = engine.status("n0")
    assert engine.banked("n0") and status is not None and status.samples == 1
    before = sorted(engine.metrics())
    assert sorted(engine.expire(T0 + 10_000, ttl_s=60.0)) == before
    assert engine.metrics() == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300])
def test_bad_values_in_a_batch_are_counted_not_learned(bad: float) -> None:
    engine = AnomalyDetectionEngine()
    keys = [f"m{j}" for j in range(BANK_MIN)]
    engine.observe_many(keys, [T0] * BANK_MIN, [bad, *([1.0] * (BANK_MIN - 1))])
    status = engine.status("m0")
    assert status is not None and status.nonfinite == 1 and status.samples == 0
    assert engine.last_value("m0") is None and engine.last_value("m1") == 1.0


def test_a_batch_repeating_one_metric_is_not_a_numpy_pass_per_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile push: a hundred metrics once, then one of them 4,900 times. Only the
    first round is large enough for the bank; the rest is scored by the metric's own
    ensemble (a numpy pass per sample would hold the loop for seconds)."""
    from chimera_engine.anomaly.bank import DetectorBank

    passes = 0
    tick_rows = DetectorBank.tick_rows

    def counted(self: DetectorBank, *args: object, **kwargs: object) -> object:
        nonlocal passes
        passes += 1
        return tick_rows(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DetectorBank, "tick_rows", counted)
    rng = np.random.default_rng(1)
    keys = [f"m{j}" for j in range(100)] + ["m7"] * 4900
    ts = [T0] * 100 + [T0 + 1 + i for i in range(4900)]
    xs = [float(x) for x in 10.0 + rng.standard_normal(5000)]
    xs[3000] += 50.0
    engine, solo = AnomalyDetectionEngine(), AnomalyDetectionEngine()
    got = engine.observe_many(keys, ts, xs)
    want = [e for e in map(solo.observe, keys, ts, xs) if e is not None]
    assert passes == 1
    assert engine.banked("m0") and not engine.banked("m7")
    assert sorted(got, key=lambda e: e.t) == sorted(want, key=lambda e: e.t)
    assert any(e.metric == "m7" and e.value == xs[3000] for e in got)

"""Hostile and random workloads on the batched path: a batch through ``observe_many``
gives what ``observe`` one sample at a time gives, in the same order, whatever the
batch holds, and the bank stays bounded and cheap to shrink."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.engine import BANK_MIN, AnomalyDetectionEngine, AnomalyEvent
from chimera_engine.metrics.settings import MetricSettings

T0 = 1.7e9
NAMES = ("tool.latency_ms", "agent.rss_mb", "tool.error_rate", "host.cpu_percent", "svc.q")
Batch = list[tuple[str, float, float]]


def test_a_batch_reports_its_events_in_the_order_of_its_samples() -> None:
    """The same subject's metrics alert at different positions of one batch: the events
    come in sample order (incidents open at the first anomaly and fold by time)."""
    keys = [f"m{j}.x{{tool=t{j % 3}}}" for j in range(BANK_MIN)]
    engine, solo = AnomalyDetectionEngine(), AnomalyDetectionEngine()
    rng = np.random.default_rng(2)
    for i in range(60):
        xs = (10.0 + 0.1 * rng.standard_normal(BANK_MIN)).tolist()
        engine.observe_many(keys, [T0 + i * 5.0] * BANK_MIN, xs)
        for k, x in zip(keys, xs, strict=True):
            solo.observe(k, T0 + i * 5.0, x)
    t = T0 + 400.0
    # m0 spikes on its second sample, m1 on its first (a later time), m2 on its third
    batch: Batch = [(keys[0], t, 10.0), (keys[0], t + 1.0, 60.0), (keys[1], t + 9.0, 60.0)]
    batch += [(keys[2], t, 10.0), (keys[2], t + 1.0, 10.0), (keys[2], t + 2.0, 80.0)]
    batch += [(k, t, 10.0) for k in keys[3:]]
    got = engine.observe_many(*zip(*batch, strict=True))  # type: ignore[arg-type]
    want = [e for e in (solo.observe(k, t, x) for k, t, x in batch) if e is not None]
    assert [e.metric for e in want] == [keys[0], keys[1], keys[2]]
    assert got == want


@pytest.mark.parametrize("t_bad", [1.596252354174806e21, -5.3177905378382905e20, 1e300])
@pytest.mark.parametrize("n", [1, BANK_MIN])
def test_an_absurd_time_is_refused_like_a_nonfinite_one(t_bad: float, n: int) -> None:
    """Such times once raised IndexError (hour of day out of range) on both paths,
    after the batch was half counted."""
    engine = AnomalyDetectionEngine()
    keys = [f"m{j}" for j in range(n)]
    engine.observe_many(keys, [t_bad, *([T0] * (n - 1))], [1.0] * n)
    status = engine.status("m0")
    assert status is not None and (status.nonfinite, status.samples) == (1, 0)
    engine.observe_many(keys, [T0 + 1] * n, [2.0] * n)  # not stuck in the far future
    assert engine.last_value("m0") == 2.0
    assert all(engine.last_value(k) == 2.0 for k in keys[1:])


def test_removing_many_banked_metrics_resets_their_rows_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Series churn (pushes of new series that then go stale) keeps the bank at the size
    of what is live, reuses rows, and forgetting thousands of series is no loop stall:
    rows are reset together when next needed, not one numpy pass per removed series."""
    resets = 0
    reset = DetectorBank._reset

    def counted(self: DetectorBank, rows: np.ndarray) -> None:
        nonlocal resets
        resets += 1
        reset(self, rows)

    monkeypatch.setattr(DetectorBank, "_reset", counted)
    engine, fresh = AnomalyDetectionEngine(), AnomalyDetectionEngine()
    rng = np.random.default_rng(4)
    for gen in range(6):  # each generation: 1,000 new series, then the old ones expire
        keys = [f"g{gen}.s{j}" for j in range(1000)]
        for i in range(3):
            xs = (5.0 + rng.standard_normal(1000)).tolist()
            engine.observe_many(keys, [T0 + gen * 1000 + i] * 1000, xs)
        gone = engine.expire(T0 + gen * 1000 + 500, ttl_s=600.0)
        assert len(gone) == (1000 if gen else 0)
    assert engine._bank is not None and engine._bank.capacity <= 2048
    assert resets <= 6
    # a reused row starts afresh: the same scores as a fresh engine's
    keys = [f"new{j}" for j in range(BANK_MIN)]
    for i in range(40):
        xs = (5.0 + rng.standard_normal(BANK_MIN)).tolist()
        ts = [T0 + 9000 + i] * BANK_MIN
        engine.observe_many(keys, ts, xs)
        fresh.observe_many(keys, ts, xs)
        assert [engine.score(k) for k in keys] == [fresh.score(k) for k in keys]
    assert [engine.normal_band(k) for k in keys] == [fresh.normal_band(k) for k in keys]


def hostile_workload(seed: int, n_batches: int = 150) -> list[tuple[object, ...]]:
    """Batches of every size (lone samples, small batches, large ones repeating metrics)
    over a population of metrics that grows past 64, 128 and 256; bad values, late and
    equal times; settings changed, metrics removed, expired, re-armed and forecast."""
    rng = np.random.default_rng(seed)
    n_max = 300
    keys = [f"{NAMES[j % len(NAMES)]}{{tool=t{j % 40}}}.{j}" for j in range(n_max)]
    base = rng.uniform(1, 300, n_max)
    noise = rng.uniform(0.002, 0.05, n_max) * base
    clock = np.full(n_max, T0)
    steps = [0.0, 1.0, 5.0, 30.0, 400.0]
    ops: list[tuple[object, ...]] = []
    for b in range(n_batches):
        live = min(n_max, 40 + b * 3)
        size = int(rng.integers(1, 70)) if rng.random() < 0.2 else int(rng.integers(64, 600))
        batch: Batch = []
        for _ in range(size):
            j = int(rng.integers(max(0, live - 100), live) if rng.random() < 0.5 else live - 1)
            j = int(rng.integers(0, live)) if rng.random() < 0.5 else j
            clock[j] += float(rng.choice(steps, p=[0.05, 0.3, 0.5, 0.1, 0.05]))
            t = float(clock[j]) - (50.0 if rng.random() < 0.01 else 0.0)
            x = float(base[j] + noise[j] * rng.standard_normal())
            r = rng.random()
            if r < 0.015:
                x += 60 * noise[j]
            elif r < 0.02:
                x = [math.nan, math.inf, 1e39, -1e39][int(rng.integers(0, 4))]
            if (b // 30) % 2 == 1 and j % 5 == 0:
                x += 20 * noise[j]  # a shift for a while
            batch.append((keys[j], t, x))
        ops.append(("batch", batch))
        r = rng.random()
        k = keys[int(rng.integers(0, live))]
        if r < 0.1:
            detector = ["ensemble", "zscore", "context", "seasonal"][int(rng.integers(0, 4))]
            ops.append(("configure", k, MetricSettings(detector=detector, sensitivity=0.5)))
        elif r < 0.14:
            ops.append(("remove", k))
        elif r < 0.3:
            ops.append(("rearm", [keys[int(rng.integers(0, live))] for _ in range(20)]))
        elif r < 0.33:
            ops.append(("expire", float(clock.max()), 1500.0))
        elif r < 0.4:
            ops.append(("forecast", k, float(base[0] * 3), float(clock.max())))
    return ops


def replay(ops: list[tuple[object, ...]], batched: bool) -> tuple[list[object], int]:
    engine = AnomalyDetectionEngine()
    out: list[object] = []
    keys: set[str] = set()
    for op in ops:
        if op[0] == "batch":
            batch: Batch = op[1]  # type: ignore[assignment]
            keys.update(k for k, _, _ in batch)
            if batched:
                events = engine.observe_many(*zip(*batch, strict=True))  # type: ignore[arg-type]
            else:
                events = [e for e in (engine.observe(*s) for s in batch) if e is not None]
            out.append(events)
            out.append([(k, engine.score(k), engine.status(k)) for k in sorted(keys)])
        elif op[0] == "configure":
            engine.configure(op[1], op[2])  # type: ignore[arg-type]
        elif op[0] == "remove":
            engine.remove(op[1])  # type: ignore[arg-type]
        elif op[0] == "rearm":
            out.append([engine.rearm(k) for k in op[1]])  # type: ignore[attr-defined]
        elif op[0] == "expire":
            out.append(engine.expire(op[1], op[2]))  # type: ignore[arg-type]
        elif op[0] == "forecast":
            engine.set_thresholds(op[1], op[2])  # type: ignore[arg-type]
            out.append(engine.check_forecasts(op[3]))  # type: ignore[arg-type]
            out.append(engine.check_withdrawals(op[3]))  # type: ignore[arg-type]
    out.append([(k, engine.normal_band(k), engine.last_value(k)) for k in sorted(keys)])
    bank = engine._bank
    assert bank is None or len(bank.rows) == sum(engine.banked(k) for k in engine.metrics())
    return out, 0 if bank is None else bank.capacity


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_hostile_workloads_decide_exactly_like_one_sample_at_a_time(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = 0
    leave = AnomalyDetectionEngine._leave_bank

    def counted(self: AnomalyDetectionEngine, *args: Any) -> Any:
        nonlocal moves
        moves += 1
        return leave(self, *args)

    monkeypatch.setattr(AnomalyDetectionEngine, "_leave_bank", counted)
    ops = hostile_workload(seed)
    got, capacity = replay(ops, batched=True)
    assert moves > 1000  # metrics went out of the bank (and back in) again and again
    want, _ = replay(ops, batched=False)
    events = [e for step in want if isinstance(step, list) for e in step]
    assert sum(isinstance(e, AnomalyEvent) for e in events) > 20
    assert capacity >= 256  # the bank grew while metrics kept arriving
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"step {i}"

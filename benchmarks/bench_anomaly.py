"""Anomaly engine figures: latency, bank CPU, detect throughput, forecast, memory, false
alarms on noise, predictive lead time.

Run: ``.venv/bin/python benchmarks/bench_anomaly.py``. All figures are medians
over repeated runs on this machine, single process unless stated.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import report

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.csvtool import detect_paths
from chimera_engine.anomaly.engine import AnomalyDetectionEngine, PredictiveAlert
from chimera_engine.anomaly.ensemble import Ensemble
from chimera_engine.anomaly.forecast import ForecastEngine
from chimera_engine.metrics.buffer import TimeSeriesBuffer

NAB_DATA = Path(__file__).resolve().parents[2] / "shared" / "nab" / "data"


def single_metric_update() -> None:
    rng = np.random.default_rng(0)
    xs = (50 + rng.normal(size=20_000)).tolist()
    e = Ensemble()
    for x in xs[:5000]:
        e.score_learn(x)
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for x in xs[5000:]:
            e.score_learn(x)
        runs.append((time.perf_counter() - start) / 15_000 * 1e6)
    report("ensemble score+learn, one metric (median)", statistics.median(runs), "us", "<= 20")
    eng = AnomalyDetectionEngine()
    t0 = 1.7e9
    for i, x in enumerate(xs[:5000]):
        eng.observe("m", t0 + i, x)
    runs = []
    for r in range(5):
        start = time.perf_counter()
        for i, x in enumerate(xs[5000:]):
            eng.observe("m", t0 + 5000 + r * 20_000 + i, x)
        runs.append((time.perf_counter() - start) / 15_000 * 1e6)
    report("engine.observe (buffer + ensemble), median", statistics.median(runs), "us")


def bank_cpu() -> None:
    n = 10_000
    bank = DetectorBank(capacity=n)
    for j in range(n):
        bank.add(f"metric{j}")
    rng = np.random.default_rng(1)
    base = rng.uniform(10, 100, n)
    ticks = [base + rng.normal(size=n) for _ in range(160)]
    for i, xs in enumerate(ticks[:60]):
        bank.tick_array(float(i), xs)
    times = []
    for i, xs in enumerate(ticks[60:]):
        c0 = time.process_time()
        bank.tick_array(float(60 + i), xs)
        times.append(time.process_time() - c0)
    per_tick = statistics.median(times)
    report("bank: 10,000 metrics, CPU per tick (median)", per_tick * 1e3, "ms")
    report("bank: 10,000 metrics @1 Hz, share of one core", per_tick * 100, "%", "<= 10")
    report("bank: state per metric", bank.nbytes_per_metric(), "bytes")


def live_hub() -> None:
    """The path the console runs: :class:`MetricsHub` -> engine (and, on an alert, the
    incident book), 10,000 metrics each sampled once a second.

    A scrape or a pushed batch delivers a tick's samples together: ``record_many``
    (the metrics live in the engine's bank). The second figure feeds the same
    samples one ``record`` call at a time (each metric has its own ensemble): what a
    client pushing one sample per request costs."""
    import asyncio

    from chimera_engine.events import EventBus
    from chimera_engine.metrics.hub import MetricsHub, Sample
    from chimera_engine.store.db import Database

    async def run(tmp: Path, batched: bool) -> tuple[float, float]:
        db = Database(tmp / f"bench{batched}.db")
        await db.open()
        try:
            hub = MetricsHub(EventBus(), db)
            n = 10_000
            rng = np.random.default_rng(5)
            base = rng.uniform(10, 100, n)
            labels = [{"tool": f"t{j}"} for j in range(n)]
            t0 = 1.7e9
            record = hub.record
            per_tick: list[float] = []
            for i in range(100):
                xs = (base + rng.normal(size=n)).tolist()
                c0 = time.process_time()
                if batched:
                    t = t0 + i
                    hub.record_many(
                        [
                            Sample("svc.latency_ms", x, lab, t)
                            for lab, x in zip(labels, xs, strict=True)
                        ]
                    )
                else:
                    for lab, x in zip(labels, xs, strict=True):
                        record("svc.latency_ms", x, lab, t0 + i)
                if i >= 60:  # after the warm-up of every detector
                    per_tick.append(time.process_time() - c0)
            await hub.flush()
            assert hub.engine.banked("svc.latency_ms{tool=t0}") is batched
            return statistics.median(per_tick), hub.samples / 100
        finally:
            await db.close()

    for batched, how in ((True, "record_many, one batch a tick"), (False, "record, one by one")):
        with tempfile.TemporaryDirectory() as tmp:
            per_tick, _ = asyncio.run(run(Path(tmp), batched))
        report(f"live hub ({how}): CPU per 1 s tick (median)", per_tick * 1e3, "ms")
        report(
            f"live hub ({how}): 10,000 metrics @1 Hz, share of one core",
            per_tick * 100,
            "%",
            "<= 10" if batched else "",
        )
        report(
            f"live hub ({how}): CPU per sample (median)",
            per_tick / 10_000 * 1e6,
            "us",
            "<= 20",
        )


def detect_throughput() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if NAB_DATA.exists():
            src, label = NAB_DATA, "NAB subset"
        else:
            src, label = Path(tmp) / "in", "synthetic"
            rng = np.random.default_rng(2)
            src.mkdir()
            for k in range(20):
                lines = ["timestamp,value"] + [
                    f"{1.7e9 + 60 * i:.0f},{v:.4f}" for i, v in enumerate(rng.normal(size=10_000))
                ]
                (src / f"s{k}.csv").write_text("\n".join(lines) + "\n")
        for jobs in (1, 2):
            rates, cpu_rates = [], []
            for r in range(3):
                c0 = time.process_time()
                rep = detect_paths([src], Path(tmp) / f"out{jobs}{r}", jobs=jobs)
                rates.append(rep.points_per_second)
                cpu_rates.append(rep.points / max(time.process_time() - c0, 1e-9))
            if jobs == 1:  # the CPU time of this process: the rate without other load
                report(
                    f"chimera detect, {label}, jobs=1, points per CPU second (median of 3)",
                    statistics.median(cpu_rates),
                    "points/s",
                )
            report(
                f"chimera detect, {label}, jobs={jobs} (median of 3)",
                statistics.median(rates),
                "points/s",
                ">= 100,000",
            )


def forecast_latency() -> None:
    rng = np.random.default_rng(3)
    t = 1.7e9 + np.arange(1000) * 60.0
    v = 50 + np.cumsum(rng.normal(size=1000)) * 0.1
    buf = TimeSeriesBuffer()
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        buf.append(ti, vi)
    fe = ForecastEngine()
    runs = []
    for _ in range(30):
        start = time.perf_counter()
        model = fe.fit(buf.values(), buf.timestamps())
        model.forecast(60)
        model.predict_crossing(float(v[-1]) + 5.0)
        runs.append((time.perf_counter() - start) * 1e3)
    report(
        "forecast + crossing, one metric, 1,000-pt buffer", statistics.median(runs), "ms", "<= 5"
    )


def memory() -> None:
    """The whole per-metric footprint of the live engine at 1,000 points: buffer,
    detector state, input status and settings (forecasts keep no state: they are
    fitted from the buffer when asked)."""
    buf = TimeSeriesBuffer(capacity=1000)
    for i in range(1000):
        buf.append(1.7e9 + i, float(i))
    report("TimeSeriesBuffer at 1,000 points", buf.nbytes() / 1024, "KB")
    runs = []
    for r in range(3):
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        eng = AnomalyDetectionEngine()
        for m in range(200):
            for i in range(1000):
                eng.observe(f"m{m}", 1.7e9 + i, float((i * (r + 7)) % 17))
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        runs.append(sum(s.size_diff for s in after.compare_to(before, "filename")) / 200)
        del eng
    report(
        "whole metric (buffer + detectors + status)", statistics.median(runs) / 1024, "KB", "<= 12"
    )
    runs = []
    for r in range(3):  # the same, for metrics scored in the engine's bank
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        eng = AnomalyDetectionEngine()
        names = [f"m{m}" for m in range(256)]
        for i in range(1000):
            eng.observe_many(names, [1.7e9 + i] * 256, [float((i * (r + 7)) % 17)] * 256)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        assert eng.banked("m0")
        runs.append(sum(s.size_diff for s in after.compare_to(before, "filename")) / 256)
        del eng
    report(
        "whole banked metric (buffer + bank row + status)",
        statistics.median(runs) / 1024,
        "KB",
        "<= 12",
    )


def _noise(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "Gaussian":
        return 50.0 + rng.normal(size=n)
    if kind == "Student-t(3)":
        return 50.0 + rng.standard_t(3, size=n)
    if kind == "log-normal":
        return rng.lognormal(0.0, 1.0, size=n)
    return np.full(n, 7.0)


def false_alarms(metrics: int = 4, hours: int = 24) -> None:
    """Alerts on pure noise sampled once a second: every one is false."""
    for seed, kind in enumerate(("Gaussian", "Student-t(3)", "log-normal", "constant")):
        rng = np.random.default_rng(100 + seed)
        total = first_hour = 0
        for _ in range(metrics):
            eng = AnomalyDetectionEngine()
            xs = _noise(kind, rng, hours * 3600).tolist()
            for i, x in enumerate(xs):
                if eng.observe("noise", 1.7e9 + i, x) is not None:
                    total += 1
                    first_hour += i < 3600
        report(
            f"false alarms, {kind} noise @1 Hz, {hours} h",
            total / (metrics * hours),
            "/metric-h",
            "< 0.5",
        )
        report("  ... of which in the first hour", first_hour / metrics, "/metric-h")


def _leak(step_s: float, rng: np.random.Generator) -> tuple[float, PredictiveAlert] | None:
    """One leak from 40 to 90 crossing 1-4 h after it starts (noise sd 0.3-1.5):
    (actual lead in minutes, the alert), or None when it crossed unannounced."""
    eng = AnomalyDetectionEngine()
    eng.set_thresholds("disk", 90.0)
    sigma = rng.uniform(0.3, 1.5)
    start = int(rng.integers(300, 600))
    cross = start + rng.uniform(60, 240) * 60.0 / step_s  # known crossing step
    slope = 50.0 / (cross - start)
    every = max(1, int(60 / step_s))  # a check a minute, like the hub's forecast loop
    for i in range(int(cross) + 1):
        t = 1.7e9 + step_s * i
        eng.observe("disk", t, 40.0 + max(0.0, i - start) * slope + rng.normal(0, sigma))
        if i % every == 0:
            found = eng.check_forecasts(t)
            if found:
                return (cross - i) * step_s / 60.0, found[0]
    return None


def lead_time(leaks: int = 20) -> None:
    """Leaks with a known crossing time; flat noise with a spike and a level shift."""
    for step_s in (60.0, 10.0, 1.0):
        rng = np.random.default_rng(4)
        leads, errors, inside, misses = [], [], 0, 0
        for _ in range(leaks):
            found = _leak(step_s, rng)
            if found is None:
                misses += 1
                continue
            lead, alert = found
            leads.append(lead)
            errors.append(abs(alert.minutes - lead))
            hi = alert.latest_minutes
            inside += hi is not None and alert.earliest_minutes <= lead <= hi
        label = f"leaks @{step_s:g} s"
        report(f"{label}: predicted before crossing", len(leads), f"of {leaks}")
        report(f"{label}: missed", misses, "leaks")
        if leads:
            report(f"{label}: median lead time", statistics.median(leads), "minutes")
            report(f"{label}: median |predicted - actual|", statistics.median(errors), "minutes")
            report(f"{label}: actual inside 'between a and b'", inside, f"of {len(leads)}")
        rng = np.random.default_rng(5)
        alerts, hours, series = 0, 4, 8
        for _ in range(series):
            eng = AnomalyDetectionEngine()
            eng.set_thresholds("disk", 90.0)
            sigma = rng.uniform(0.3, 1.5)
            steps = int(hours * 3600 / step_s)
            spike_at = int(rng.integers(steps // 4, steps // 2))
            for i in range(steps):
                t = 1.7e9 + step_s * i
                v = 40.0 + rng.normal(0, sigma) + (30.0 if i == spike_at else 0.0)
                eng.observe("disk", t, v + (10.0 if i > steps // 2 else 0.0))
                if i % max(1, int(60 / step_s)) == 0:
                    alerts += len(eng.check_forecasts(t))
        report(
            f"{label}: false predictions (spike, level shift)",
            alerts / (series * hours),
            "/metric-h",
        )


def main() -> int:
    single_metric_update()
    live_hub()
    bank_cpu()
    forecast_latency()
    memory()
    false_alarms()
    lead_time()
    detect_throughput()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

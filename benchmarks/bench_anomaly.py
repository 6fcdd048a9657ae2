"""Anomaly engine figures: latency, bank CPU, detect throughput, forecast, memory, lead time.

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
from chimera_engine.anomaly.engine import AnomalyDetectionEngine
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
            rates = []
            for r in range(3):
                rep = detect_paths([src], Path(tmp) / f"out{jobs}{r}", jobs=jobs)
                rates.append(rep.points_per_second)
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
    buf = TimeSeriesBuffer(capacity=1000)
    for i in range(1000):
        buf.append(1.7e9 + i, float(i))
    report("TimeSeriesBuffer at 1,000 points", buf.nbytes() / 1024, "KB", "<= 12")
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    eng = AnomalyDetectionEngine()
    for m in range(200):
        for i in range(1000):
            eng.observe(f"m{m}", 1.7e9 + i, float(i % 17))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    report("engine per metric (buffer + scalar ensemble)", total / 200 / 1024, "KB")
    bank = DetectorBank(capacity=1024)
    per = bank.nbytes_per_metric() + buf.nbytes()
    report("bank per metric + its 1,000-pt buffer", per / 1024, "KB")


def lead_time() -> None:
    """Ramps with noise toward a threshold: how early the predictive alert fires."""
    leads, errors = [], []
    rng = np.random.default_rng(4)
    for k in range(20):
        eng = AnomalyDetectionEngine(predictive_horizon=120)
        eng.set_thresholds("disk", 90.0)
        slope = rng.uniform(0.05, 0.3)
        start_ramp = 200
        alert = None
        cross_t = None
        for i in range(2000):
            t = 1.7e9 + 60.0 * i
            v = 40.0 + max(0, i - start_ramp) * slope + rng.normal(0, 0.5)
            eng.observe("disk", t, v)
            if alert is None and i % 5 == 0 and i > 30:
                found = eng.check_forecasts(t)
                if found:
                    alert, alert_t = found[0], t
            if v >= 90.0:
                cross_t = t
                break
        if alert is not None and cross_t is not None:
            lead = (cross_t - alert_t) / 60.0
            leads.append(lead)
            errors.append(abs(alert.minutes - lead))
        del k
    report("predictive alert: ramps alerted before crossing", len(leads), "of 20")
    if leads:
        report("predictive alert: median lead time", statistics.median(leads), "minutes")
        report(
            "predictive alert: median |predicted - actual|", statistics.median(errors), "minutes"
        )


def main() -> int:
    single_metric_update()
    bank_cpu()
    forecast_latency()
    memory()
    lead_time()
    detect_throughput()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

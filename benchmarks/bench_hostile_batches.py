"""Loop time of the worst batches a client can push: CPU of one ``MetricsHub.record_many``
call (what ``POST /api/metrics`` runs on the event loop after parsing) per batch shape.

Run: ``.venv/bin/python benchmarks/bench_hostile_batches.py``. Medians of 3 runs: the
loop thread's CPU (``time.thread_time``; the store's writer thread works meanwhile) and
the wall time the call held the loop (shared CPU: noisy). Shapes, 5,000 samples each:

- ``64 x 78``: 64 warm series, each 78 times (the most bank passes a batch can force);
- ``100 x 50``: the same with 100 series;
- ``5000 new``: 5,000 series never seen (the bank grows from 64 rows to 8,192);
- ``1 x 5000``: one series 5,000 times (scored by its own ensemble);
- ``5000 alerting``: 5,000 warm series (2,500 tools, 2,500 hosts) all jumping at once:
  5,000 anomalies, each persisted with its incident;
- ``forget 5000``: the hub forgetting 5,000 banked series that went stale.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import report

from chimera_engine.events import EventBus
from chimera_engine.metrics.hub import MetricsHub, Sample
from chimera_engine.store.db import Database

T0 = 1.7e9
N = 5000


def warm(hub: MetricsHub, series: list[dict[str, str]], rng: np.random.Generator) -> None:
    for i in range(60):
        xs = (10.0 + 0.1 * rng.standard_normal(len(series))).tolist()
        batch = [Sample("b.x", x, lab, T0 + 5 * i) for lab, x in zip(series, xs, strict=True)]
        hub.record_many(batch, origin="push")


def shapes(rng: np.random.Generator) -> dict[str, Callable[[MetricsHub], Callable[[], object]]]:
    def repeated(m: int) -> Callable[[MetricsHub], Callable[[], object]]:
        def setup(hub: MetricsHub) -> Callable[[], object]:
            series = [{"s": str(j)} for j in range(m)]
            warm(hub, series, rng)
            xs = (10.0 + 0.1 * rng.standard_normal(N)).tolist()
            batch = [Sample("b.x", xs[i], series[i % m], T0 + 400 + i // m) for i in range(N)]
            return lambda: hub.record_many(batch, origin="push")

        return setup

    def new(hub: MetricsHub) -> Callable[[], object]:
        batch = [Sample("n.x", 1.0, {"s": str(j)}, T0) for j in range(N)]
        return lambda: hub.record_many(batch, origin="push")

    def single(hub: MetricsHub) -> Callable[[], object]:
        xs = (10.0 + rng.standard_normal(N)).tolist()
        batch = [Sample("one.x", x, None, T0 + i) for i, x in enumerate(xs)]
        return lambda: hub.record_many(batch, origin="push")

    def alerting(hub: MetricsHub) -> Callable[[], object]:
        series = [{"tool" if j % 2 else "host": f"s{j}"} for j in range(N)]
        warm(hub, series, rng)
        batch = [Sample("b.x", 50.0, lab, T0 + 400) for lab in series]
        return lambda: hub.record_many(batch, origin="push")

    def forget(hub: MetricsHub) -> Callable[[], object]:
        series = [{"s": str(j)} for j in range(N)]
        warm(hub, series, rng)
        return lambda: hub.expire_stale(hub.stale_s + 1e12)

    return {
        "64 x 78": repeated(64),
        "100 x 50": repeated(100),
        "5000 new": new,
        "1 x 5000": single,
        "5000 alerting": alerting,
        "forget 5000": forget,
    }


async def measure(tmp: Path) -> None:
    rng = np.random.default_rng(3)
    for name, setup in shapes(rng).items():
        runs: list[float] = []
        walls: list[float] = []
        for k in range(3):
            db = Database(tmp / f"{name.replace(' ', '_')}{k}.db")
            await db.open()
            try:
                hub = MetricsHub(EventBus(), db, clock=lambda: T0)
                run = setup(hub)
                c0, w0 = time.thread_time(), time.perf_counter()
                run()
                runs.append(time.thread_time() - c0)
                walls.append(time.perf_counter() - w0)
                await hub.flush()
            finally:
                await db.close()
        report(f"{name}: loop thread CPU", statistics.median(runs) * 1e3, "ms", "~100")
        report(f"{name}: loop held (wall)", statistics.median(walls) * 1e3, "ms")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

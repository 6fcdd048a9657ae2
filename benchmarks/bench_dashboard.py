"""Dashboard figures: event-loop lag and redraw cost with 24 live charts of 1,000 points.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--seconds 10]`` (``make bench``).

A real engine runs on the qasync loop (collectors, forecast loop, loop-lag
monitor). Its hub holds 24 metrics of 1,000 samples each; a feeder records one
new sample per metric every 100 ms (with an occasional spike, so anomalies
arrive as events), and the Dashboard panel - offscreen, sized so all 24 charts
are on screen - redraws at 10 Hz. After a warm-up the script measures:

* loop lag p50/p99 over the measured seconds, by a second monitor of the same
  kind as the engine's (``node.loop_lag.stats()``, which also covers the
  dashboard's construction, is printed too);
* redraw time per frame (median): reading the buffers and updating the items;
* paint time per frame (median): Qt painting the 24 charts afterwards.

Target: loop lag p99 <= 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import qasync
from _startup import console_bridge, engine_with_admin, temp_data_dir
from _util import report
from PySide6.QtWidgets import QApplication

from app.panels.metrics.view import DashboardPanel
from app.theme import apply_theme
from chimera_engine.events import EventBus
from chimera_engine.looplag import LoopLagMonitor
from chimera_engine.node import HeartNode

CHARTS = 24
POINTS = 1000
STEP_S = 0.1


def prefill(node: HeartNode, now: float) -> list[str]:
    keys = []
    rng = random.Random(1)
    for m in range(CHARTS):
        level = 10.0 * (m + 1)
        for i in range(POINTS):
            t = now - (POINTS - i) * STEP_S
            wave = math.sin(i / (20 + m))
            node.hub.record(
                "bench.load", level * (1 + 0.1 * wave) + rng.gauss(0, 0.5), {"n": f"{m:02d}"}, t
            )
        keys.append(f"bench.load{{n={m:02d}}}")
    return keys


async def feed(node: HeartNode, stop: asyncio.Event) -> None:
    """One sample per metric every 100 ms; now and then a spike."""
    rng = random.Random(2)
    i = 0
    while not stop.is_set():
        now = time.time()
        for m in range(CHARTS):
            level = 10.0 * (m + 1)
            value = level * (1 + 0.1 * math.sin(i / (20 + m))) + rng.gauss(0, 0.5)
            if rng.random() < 0.002:
                value *= 4
            node.hub.record("bench.load", value, {"n": f"{m:02d}"}, now)
        i += 1
        await asyncio.sleep(STEP_S)


async def run(seconds: float, warmup: float) -> None:
    data = temp_data_dir("chimera-bench-dash-")
    async with (
        engine_with_admin(data, name="bench") as (node, _),
        console_bridge(node, "bench") as bridge,
    ):
        keys = prefill(node, time.time())
        stop = asyncio.Event()
        feeder = asyncio.create_task(feed(node, stop))
        build = time.perf_counter()
        panel = DashboardPanel(bridge, max_default_charts=0)
        for key in keys:
            panel.set_charted(key, True)
        panel.toolbar.browser_button.setChecked(False)
        panel.resize(1920, 1480)
        panel.splitter.setSizes([1160, 200])
        panel.show()
        build_ms = (time.perf_counter() - build) * 1e3
        await asyncio.sleep(warmup)
        visible = len(panel.grid.visible_charts())
        monitor = LoopLagMonitor(EventBus())
        lag_task = asyncio.create_task(monitor.run())
        plots = [chart.plot for chart in panel.grid.charts()]
        paints: list[float] = []
        frames = 0
        before = sum(p.paint_seconds for p in plots)
        panel.frame_ms.clear()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await asyncio.sleep(0.1)
            total = sum(p.paint_seconds for p in plots)
            paints.append((total - before) * 1e3)
            before = total
            frames += 1
        stats = monitor.stats()
        redraws = list(panel.frame_ms)
        lag_task.cancel()
        stop.set()
        await asyncio.gather(feeder, lag_task, return_exceptions=True)
        node_stats = node.loop_lag.stats()
        panel.hide()
        panel.deleteLater()

    print(f"{visible} of {CHARTS} charts on screen, {POINTS} points each, {seconds:.0f} s at 10 Hz")
    report("dashboard construction (24 charts)", build_ms, "ms")
    report("loop lag p50 (measured window)", stats.p50_ms, "ms")
    report("loop lag p99 (measured window)", stats.p99_ms, "ms", "<= 30 ms")
    report("loop lag max (measured window)", stats.max_ms, "ms")
    report("node.loop_lag p50 (last 30 s, incl. build)", node_stats.p50_ms, "ms")
    report("node.loop_lag p99 (last 30 s, incl. build)", node_stats.p99_ms, "ms")
    report("redraw per frame, median (data + items)", statistics.median(redraws), "ms")
    report("paint per 100 ms, median (Qt painting)", statistics.median(paints), "ms")
    report("frames redrawn", float(len(redraws)), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(["bench-dashboard"])
    assert isinstance(app, QApplication)
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run(args.seconds, args.warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Dashboard screenshot (``dashboard.png``), used by ``scripts/screenshots.py``.

A fresh engine gets ten minutes of believable history through the authorised
facade (``push_metrics``): three tools' latency, error rate and confidence
with a latency spike and an error burst, a disk filling towards its 90 %
threshold (so the engine's forecast loop publishes a failure prediction); the process's
own CPU and memory come from the engine's collector, live. An operator
acknowledges one anomaly and tunes the detection of the parse_log latency
(sensitivity, an alert threshold at 150 ms); then the main window opens on the
Dashboard with the most telling charts first, that chart selected and a
marker's details shown.

Run alone: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots_dashboard.py``
(writes ``docs/screenshots/dashboard.png`` only).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from app.controller import ConsoleController
from app.signals import wait_signal
from app.startup import bridge_for
from chimera_engine.config import load_settings
from chimera_engine.events import FailurePredicted
from chimera_engine.node import HeartNode

PASSWORD = "correct horse battery"
TOOLS = ("parse_log", "clean_csv", "validate_json")
HISTORY_S = 300
DISK_THRESHOLD = 90.0
ORDER = (
    "tool.latency_ms{tool=parse_log}",
    "disk.used_percent",
    "tool.confidence{tool=clean_csv}",
    "tool.error_rate{tool=clean_csv}",
    "process.rss_mb",
    "process.cpu_percent",
    "tool.latency_ms{tool=clean_csv}",
    "tool.latency_ms{tool=validate_json}",
    "tool.error_rate{tool=parse_log}",
    "tool.confidence{tool=parse_log}",
)

Sample = dict[str, Any]


def _tool_history(now: float, rng: random.Random) -> list[Sample]:
    """One sample a second per tool metric, as the tool-call collector records them."""
    samples: list[Sample] = []
    base = {"parse_log": 12.0, "clean_csv": 4.0, "validate_json": 7.5}
    for tool in TOOLS:
        labels = {"tool": tool}
        confidence = 1.0
        for i in range(HISTORY_S):
            t = now - HISTORY_S + i
            ago = HISTORY_S - i
            latency = base[tool] * (1 + 0.06 * rng.gauss(0, 1))
            rate = max(0.0, rng.gauss(0.004, 0.004)) if tool != "validate_json" else 0.0
            if tool == "parse_log" and ago in (95, 94):
                latency = 185.0 if ago == 95 else 64.0  # a slow regex on a huge line
            if tool == "clean_csv" and 150 >= ago >= 145:
                rate = (0.32, 0.5, 0.46, 0.36, 0.2, 0.07)[150 - ago]  # a bad upload
            confidence = 0.8 * confidence + 0.2 * (1.0 - rate)
            samples += [
                {"name": "tool.latency_ms", "value": latency, "labels": labels, "t": t},
                {"name": "tool.error_rate", "value": rate, "labels": labels, "t": t},
                {"name": "tool.confidence", "value": confidence, "labels": labels, "t": t},
                {"name": "tool.calls", "value": 3 + rng.random(), "labels": labels, "t": t},
            ]
    return samples


def _disk_history(now: float, rng: random.Random) -> list[Sample]:
    """A disk filling at about 0.7 % a minute: 90 % is a few minutes away."""
    n = 180
    return [
        {
            "name": "disk.used_percent",
            "value": 78.0 + 10.8 * i / n + rng.gauss(0, 0.04),
            "t": now - 5.0 * (n - i),
        }
        for i in range(n)
    ]


async def _until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the dashboard did not reach the expected state")


async def capture_dashboard(
    out: Path, data_dir: Path, save: Callable[[QWidget, Path], None]
) -> None:
    settings = load_settings(
        data_dir=data_dir,
        env={"CHIMERA_DEMO__ENABLED": "false"},  # only this history, no demo workload
        use_default_file=False,
    )
    node = HeartNode(settings)
    await node.start()
    rng = random.Random(11)
    now = time.time() - 1.0
    bridge = bridge_for(node)
    window: QWidget | None = None
    try:
        facade = node.facade
        admin = (await facade.create_first_admin("admin", PASSWORD)).principal
        await facade.create_user(admin, "olivia", PASSWORD, "operator")
        predicted = node.bus.subscribe(FailurePredicted)
        node.hub.set_thresholds("disk.used_percent", None, DISK_THRESHOLD)
        history = _tool_history(now, rng) + _disk_history(now, rng)
        for start in range(0, len(history), 400):  # small batches: no long loop stall
            await facade.push_metrics(admin, history[start : start + 400])
            await asyncio.sleep(0.01)
        await node.hub.flush()
        async with asyncio.timeout(15):
            await predicted.get()  # the forecast loop runs every 5 s
        predicted.close()
        olivia = (await facade.login("olivia", PASSWORD)).principal
        burst = await facade.list_anomalies(admin, metric="tool.error_rate{tool=clean_csv}")
        for anomaly in burst[:1]:
            await facade.acknowledge_anomaly(olivia, anomaly.id)
        await facade.configure_metric(olivia, ORDER[0], sensitivity=0.6, thresholds=[150.0])

        await bridge.login("admin", PASSWORD)
        main = ConsoleController(bridge).build_main_window()
        window = main
        panel: Any = main.panel("Dashboard")
        main.show_panel("Dashboard")  # the window opens on the Overview
        main.show()
        await _until(lambda: panel.anomaly_model.rowCount() >= 3)
        for key in panel.chart_keys():
            panel.set_charted(key, False)
        for key in ORDER:
            panel.set_charted(key, True)
        spikes = await facade.list_anomalies(admin, metric=ORDER[0])
        panel.select_chart(ORDER[0])
        if spikes:
            panel.show_anomaly(spikes[0].id)
        # Forecasts arrive one chart per frame. The status bar's loop lag is a p99 over
        # the last 30 s: wait until building the window has left that window.
        for _ in range(40):
            (p99,) = await wait_signal(bridge.loopLag)
            if isinstance(p99, float) and p99 < 16.0:
                break
        save(main, out / "dashboard.png")
    finally:
        if window is not None:
            window.close()
            window.deleteLater()
        await bridge.aclose()
        await node.stop()


def main() -> int:
    """Write ``docs/screenshots/dashboard.png`` (light theme) and nothing else."""
    import sys
    import tempfile

    import qasync

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from screenshots import REPO, save  # a sibling; imported here: it imports this module

    from app.main import create_application

    app = create_application("chimera-console", "light")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    out = REPO / "docs" / "screenshots"
    try:
        with tempfile.TemporaryDirectory(prefix="chimera-dashboard-") as tmp, loop:
            loop.run_until_complete(capture_dashboard(out, Path(tmp) / "data", save))
    finally:
        asyncio.set_event_loop(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

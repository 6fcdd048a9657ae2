"""Render the Overview during an incident, and the Hunks tab of a two-hunk patch.

A real engine on a copy of the demo workspace, two local agents, the replay
provider answering with scripted answers (``screenshots_patches``). With
the main window open on the Overview: ``csv_cleaner`` is reloaded with a bug
and fails on header-only files, minutes of metric history arrive (a work queue
that suddenly piles up, a disk filling towards its threshold, so a failure is
predicted), and a patch for ``log_parser`` is generated and waits for review;
the Overview notifies it (an in-app notice: offscreen has no tray). Captures

* ``overview.png``: the Overview with every card filled and the notice shown,
* ``patches_hunks.png``: a second, two-hunk patch in the Patch review panel, its
  Hunks tab with the second hunk unticked.

Usage: ``python scripts/screenshots_overview.py [--out docs/screenshots] [--theme light|dark]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from app.bridge import EngineBridge
from app.controller import ConsoleController
from app.panels.overview.view import OverviewPanel
from app.panels.patches.detail import HUNKS_TAB
from app.panels.patches.view import PatchesPanel
from app.shared.overview import AGENTS, ANOMALIES, PATCHES, RELOADS, TOOLS
from chimera_engine.errors import ChimeraError
from chimera_engine.events import FailurePredicted
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _startup  # a sibling of this script
import screenshots_dashboard  # a sibling of this script
import screenshots_patches  # a sibling of this script
from _startup import PASSWORD, REPO, save

TIMEOUT_S = 30.0
# Header-only files make this version divide by zero.
RATIO_BUG = (
    "    width = len(header)\n",
    "    width = len(header)\n    mean = sum(map(len, rows[1:])) // len(rows[1:])\n",
)
CSV_SAMPLES = ("Name,Age\nada,36\nada,36\n", "id\n1\n2\n", "Only Header\n")


until = partial(_startup.until, timeout=TIMEOUT_S)
#: the status bar's loop lag is a p99 over 30 s: wait for it to leave the burst of work
settled_lag = partial(_startup.settled_lag, samples=40)


async def incident(node: HeartNode, admin: Principal) -> None:
    """A buggy reload, failing calls, metric history with an anomaly burst and a
    predicted disk failure (waits for the forecast loop to publish it)."""
    facade = node.facade
    v1 = await facade.modules.version_source(admin, "csv_cleaner", 1)
    await facade.modules.reload_module(admin, "csv_cleaner", source=v1.replace(*RATIO_BUG))
    for i in range(60):
        with contextlib.suppress(ChimeraError):
            await node.runtime.call("clean_csv", {"text": CSV_SAMPLES[i % 3]}, admin)
    for _ in range(25):
        await node.runtime.call("parse_log", {"text": "2026-11-24 10:00:00 ERROR disk full"}, admin)
    predicted = node.bus.subscribe(FailurePredicted)
    node.hub.set_thresholds("disk.used_percent", None, screenshots_dashboard.DISK_THRESHOLD)
    rng = random.Random(11)
    now = time.time() - 1.0
    t0 = now - 240
    history: list[dict[str, object]] = [  # a work queue, flat, then a sudden pile-up
        {"name": "queue.depth", "value": 10 + (i % 3), "t": t0 + i} for i in range(200)
    ]
    history.append({"name": "queue.depth", "value": 400.0, "t": t0 + 200})
    history += screenshots_dashboard._disk_history(now, rng)
    for start in range(0, len(history), 400):
        await facade.metrics.push_metrics(admin, history[start : start + 400])
        await asyncio.sleep(0.01)
    await node.hub.flush()
    async with asyncio.timeout(15):
        await predicted.get()
    predicted.close()


async def capture(out: Path, data_dir: Path) -> None:
    workspace, scripted = screenshots_patches.scripted_workspace(data_dir.parent)
    env = {
        **scripted,
        "CHIMERA_SWARM__INITIAL_AGENTS": "executor:2,analyzer:1",
        "CHIMERA_TOOLS__WATCH": "false",
    }
    settings = _startup.engine_settings(data_dir, env=env, workspace=workspace)
    async with _startup.running_engine(settings) as node, _startup.console_bridge(node) as bridge:
        await shoot(node, bridge, out)


async def shoot(node: HeartNode, bridge: EngineBridge, out: Path) -> None:
    window = None
    try:
        facade = node.facade
        admin = (await _startup.first_admin(node)).principal
        await facade.admin.create_user(admin, "olivia", PASSWORD, "operator")
        await bridge.login("olivia", PASSWORD)
        window = ConsoleController(bridge).build_main_window()
        overview = window.panel("Overview")
        assert isinstance(overview, OverviewPanel)
        window.show()
        await until(lambda: overview.overview is not None)

        await incident(node, admin)
        outcome = await facade.patches.request_patch(admin, screenshots_patches.MODULE)
        assert outcome.patch is not None, outcome.report.reasons
        cards = overview.cards
        await until(
            lambda: (
                cards[PATCHES].list.count() == 1
                and cards[ANOMALIES].list.count() >= 2
                and cards[AGENTS].list.count() == 3
                and cards[RELOADS].list.count() >= 2
                and cards[TOOLS].list.count() >= 4
                and overview.notice.isVisibleTo(overview)
            )
        )
        window.show_panel("Overview")
        await settled_lag(bridge)
        save(window, out / "overview.png")

        second = await facade.patches.request_patch(admin, screenshots_patches.MODULE)
        assert second.patch is not None, second.report.reasons
        patches = window.panel("Patches")
        assert isinstance(patches, PatchesPanel)
        window.show_panel("Patches")
        await until(lambda: patches.model.row_of(second.patch.id) >= 0)  # type: ignore[union-attr]
        patches.select_patch(second.patch.id)
        patches.detail.tabs.setCurrentIndex(HUNKS_TAB)
        picker = patches.detail.hunks
        await until(lambda: picker.list.count() == 2)
        picker.list.item(1).setCheckState(Qt.CheckState.Unchecked)
        picker.list.setCurrentRow(0)
        await asyncio.sleep(0.3)
        save(window, out / "patches_hunks.png")
        await bridge.logout()
    finally:
        if window is not None:
            window.close_quietly()
            window.deleteLater()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _startup.run_console(
        lambda tmp: capture(out, tmp / "data"), theme=args.theme, prefix="chimera-overview-"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

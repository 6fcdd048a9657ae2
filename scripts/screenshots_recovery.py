"""Render the Overview during a real demo incident and after the engine healed it.

The console's default set-up (the demo workspace, its workload, two agents, the replay
provider answering with the shipped scripted demo answers). The ``csv_shape`` fault is
injected through the facade, as the Demo menu does; the Overview is captured once
metacognition's fix has passed the sandbox and waits for review, then the operator
approves it and the Overview is captured again once the fault counts as recovered (the
patched version serves the new input shape). Captures
``overview_incident.png`` and ``overview_recovered.png``.

Usage: ``python scripts/screenshots_recovery.py [--out docs/screenshots] [--fault csv_shape]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.bridge import EngineBridge
from app.mainwindow import MainWindow
from app.panels.overview.view import OverviewPanel
from chimera_engine.demo.faults import FaultState
from chimera_engine.events import PatchChanged
from chimera_engine.node import HeartNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _startup  # a sibling of this script
from _startup import REPO, save, settled_lag

ENV = {
    "CHIMERA_DEMO__START_DELAY": "0",
    "CHIMERA_DEMO__FAULTS": "false",  # this script injects the fault itself
    "CHIMERA_CODEGEN__PROVIDER": "replay",
    "CHIMERA_CODEGEN__AUTO_APPROVE": "false",
    "CHIMERA_CODEGEN__WATCH_SECONDS": "10",
    "CHIMERA_HEAL__WARMUP_SECONDS": "5",
    "CHIMERA_TOOLS__WATCH": "false",
}


async def capture(out: Path, data_dir: Path, fault: str) -> None:
    settings = _startup.engine_settings(data_dir, env=ENV)
    async with _startup.running_engine(settings) as node:
        await _startup.first_admin(node)
        async with _startup.console_bridge(node, "admin") as bridge:
            with _startup.main_window(bridge) as window:
                await shoot(node, bridge, window, fault, out)


async def shoot(
    node: HeartNode, bridge: EngineBridge, window: MainWindow, fault: str, out: Path
) -> None:
    facade = node.facade
    admin = bridge.principal
    overview = window.panel("Overview")
    assert isinstance(overview, OverviewPanel)
    window.show()
    await asyncio.sleep(8)  # the workload's first calls, charts and agents
    changes = node.bus.subscribe(PatchChanged)
    await facade.demo.trigger(admin, fault)
    async with asyncio.timeout(120):
        while (change := await changes.get()).state != "ready":
            pass
    changes.close()
    await asyncio.sleep(3)  # the Overview's next read shows the incident
    window.show_panel("Overview")
    await settled_lag(bridge, samples=10)
    save(window, out / "overview_incident.png")
    await facade.patches.approve_patch(admin, change.patch_id)

    async def state() -> str:
        status = await facade.demo.status(admin)
        return next(f.state for f in status.faults if f.name == fault)

    for _ in range(180):  # polled once a second, as the Overview does
        if await state() == FaultState.RECOVERED.value:
            break
        await asyncio.sleep(1)
    else:
        raise TimeoutError(f"{fault} did not recover within 180 s")
    await facade.demo.clear(admin, fault)
    await asyncio.sleep(4)
    window.show_panel("Overview")
    await settled_lag(bridge, samples=10)
    save(window, out / "overview_recovered.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--fault", default="csv_shape")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _startup.run_console(
        lambda tmp: capture(out, tmp / "data", args.fault), prefix="chimera-recovery-"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

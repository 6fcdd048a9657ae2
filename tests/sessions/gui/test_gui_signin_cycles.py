"""Ten sign-in / sign-out cycles through the real dialogs with the demo running: no agent
is declared hung or respawned, and the process does not keep memory per cycle."""

from __future__ import annotations

import asyncio
import gc
import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.controller import ConsoleController
from app.panels.signin.login import LoginDialog
from chimera_engine.swarm.events import AgentChanged
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, running, wait_signal

pytestmark = pytest.mark.asyncio
CYCLES = 10


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_ten_sign_in_cycles_with_the_demo_running(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    demo = {"CHIMERA_DEMO__ENABLED": "true", "CHIMERA_DEMO__START_DELAY": "0.2"}
    demo |= {"CHIMERA_DEMO__FAULTS": "false", "CHIMERA_DEMO__AGENTS": "2"}
    async with engine(**demo) as env:
        changes = env.node.bus.subscribe(AgentChanged)
        controller = ConsoleController(env.bridge, window_size=(1024, 700))
        rss: list[float] = []
        async with running(controller) as run:
            for cycle in range(CYCLES):
                (dialog,) = await wait_signal(controller.dialogShown, within=15)
                assert isinstance(dialog, LoginDialog)
                gc.collect()
                rss.append(rss_mb())
                dialog.username_edit.setText(ADMIN_NAME)
                dialog.password_edit.setText(ADMIN_PASSWORD)
                QTest.keyClick(dialog.password_edit, Qt.Key.Key_Return)
                (window,) = await wait_signal(controller.mainWindowShown, within=15)
                assert len(window.panel_names()) == 7
                await asyncio.sleep(0.2)
                if cycle < CYCLES - 1:
                    window.logout_action.trigger()
            assert env.node.swarm is not None
            agents = [a for a in env.node.swarm.agents() if a.state.value == "ready"]
            assert len(agents) >= 1, "the demo's agents are running"
            run.cancel()  # the flow closes the window and signs out
        seen = []
        while len(changes):
            seen.append(changes.get_nowait().change)  # type: ignore[union-attr]
        assert "hung" not in seen and "respawned" not in seen, seen
        growth = rss[-1] - rss[1]  # the first cycle loads modules and caches once
        assert growth <= 5.0, f"RSS grew {growth:.1f} MB over {CYCLES - 1} cycles: {rss}"

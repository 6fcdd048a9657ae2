"""The Demo menu against a real engine: its ticks follow the engine's demo state, and its
entries start the workload and inject/clear faults (audited); an observer sees them
disabled with the missing permission named."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot

from app.panels.demo.menu import DemoMenu
from chimera_engine.demo.runner import DemoStatus
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_until

pytestmark = pytest.mark.asyncio


WINDOWS: list[QMainWindow] = []  # referenced until the test ends


def menu_for(bridge: object, qtbot: QtBot) -> DemoMenu:
    window = QMainWindow()
    qtbot.addWidget(window)
    WINDOWS[:] = [window]
    return DemoMenu(window, bridge)  # type: ignore[arg-type]


async def test_demo_menu_drives_the_workload_and_faults(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine(CHIMERA_DEMO__RATE="5") as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        menu = menu_for(env.bridge, qtbot)
        node = env.node
        assert node.demo is not None

        # engine -> menu: the workload is stopped in tests, so nothing is ticked
        menu.refresh()
        await wait_until(lambda: menu.status is not None, what="the demo's state")
        assert not menu.workload_action.isChecked()
        assert all(not a.isChecked() for a in menu.fault_actions.values())

        # menu -> engine: run the workload, inject a fault, clear it
        menu.workload_action.trigger()
        await wait_until(lambda: node.demo is not None and node.demo.workload.state == "running")
        assert menu.workload_action.isChecked()
        menu.fault_actions["error_burst"].trigger()
        await wait_until(lambda: menu.status is not None and fault_state(menu.status) == "active")
        assert menu.fault_actions["error_burst"].isChecked()
        menu.fault_actions["error_burst"].trigger()
        await wait_until(lambda: menu.status is not None and fault_state(menu.status) != "active")
        assert not menu.fault_actions["error_burst"].isChecked()
        menu.workload_action.trigger()
        await wait_until(lambda: node.demo is not None and node.demo.workload.state == "paused")

        actions = [e.action for e in await audit_entries(node, "demo.")]
        for expected in ("demo.workload.start", "demo.fault.start", "demo.fault.stop"):
            assert expected in actions, actions


def fault_state(status: DemoStatus) -> str:
    return next(f.state for f in status.faults if f.name == "error_burst")


async def test_an_observer_cannot_use_the_demo_menu(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "otto", ADMIN_PASSWORD, "observer"
        )
        await env.bridge.login("otto", ADMIN_PASSWORD)
        menu = menu_for(env.bridge, qtbot)
        menu.refresh()
        for action in (menu.workload_action, *menu.fault_actions.values()):
            assert not action.isEnabled()
            assert "demo.control" in action.toolTip()

"""The window and dock layout is remembered between runs and can be reset."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.mainwindow import BUSY_DELAY_MS, MainWindow
from app.preferences import LAYOUT_VERSION, Preferences
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD

pytestmark = pytest.mark.asyncio
PANELS = ("Alpha", "Beta", "Gamma")


async def open_window(bridge: EngineBridge, preferences: Preferences, qtbot: QtBot) -> MainWindow:
    window = MainWindow(bridge, preferences=preferences)
    qtbot.addWidget(window)
    for name in PANELS:
        window.add_panel(name, QLabel(f"{name} panel"))
    window.show_panel("Alpha")
    window.resize(760, 560)  # within the offscreen screen (800x600)
    window.show()
    await asyncio.sleep(0.05)
    return window


async def test_layout_persists_across_two_windows(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    path = tmp_path / "prefs.ini"
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        first = await open_window(env.bridge, Preferences.at(path), qtbot)
        assert Preferences.at(path).layout() is None
        beta = first.dock("Beta")
        first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, beta)  # out of the tabs
        first.dock("Gamma").hide()
        first.resize(640, 480)
        await asyncio.sleep(0.05)
        first.close_quietly()  # saves
        assert Preferences.at(path).layout() is not None

        second = await open_window(env.bridge, Preferences.at(path), qtbot)
        assert second.dockWidgetArea(second.dock("Beta")) == Qt.DockWidgetArea.RightDockWidgetArea
        assert second.tabifiedDockWidgets(second.dock("Beta")) == []
        assert second.dock("Gamma").isHidden()
        assert (second.width(), second.height()) == (640, 480)

        # View > Reset layout: the panels as they were first added, the saved layout gone.
        second.desktop.reset_layout_action.trigger()
        await asyncio.sleep(0.05)
        assert second.dockWidgetArea(second.dock("Beta")) == Qt.DockWidgetArea.TopDockWidgetArea
        assert second.dock("Beta") in second.tabifiedDockWidgets(second.dock("Alpha"))
        assert not second.dock("Gamma").isHidden()
        assert (second.width(), second.height()) == (760, 560)
        assert Preferences.at(path).layout() is None
        second.close_quietly()


async def test_layout_of_another_version_is_ignored(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    path = tmp_path / "prefs.ini"
    preferences = Preferences.at(path)
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        first = await open_window(env.bridge, preferences, qtbot)
        first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.dock("Gamma"))
        state = first.saveState(LAYOUT_VERSION + 1)  # as a later console would save it
        first.close_quietly()
        preferences.save_layout(first.saveGeometry(), state)

        second = await open_window(env.bridge, Preferences.at(path), qtbot)
        assert second.dockWidgetArea(second.dock("Gamma")) == Qt.DockWidgetArea.TopDockWidgetArea
        second.close_quietly()


async def test_windows_without_preferences_save_nothing(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        window.add_panel("Alpha", QLabel("alpha"))
        window.show()
        await asyncio.sleep(0.02)
        window.close_quietly()
        assert not window.restore_layout()
        assert list(tmp_path.iterdir()) == [tmp_path / "data"]


async def test_status_bar_shows_working_only_for_work_that_lasts(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        window.show()
        env.bridge.busyChanged.emit(True)
        await asyncio.sleep(BUSY_DELAY_MS / 1000 / 3)
        env.bridge.busyChanged.emit(False)
        await asyncio.sleep(BUSY_DELAY_MS / 1000)
        assert not window.busy_label.isVisible(), "a short read does not flicker the status bar"

        env.bridge.busyChanged.emit(True)
        await asyncio.sleep(BUSY_DELAY_MS / 1000 * 1.5)
        assert window.busy_label.isVisible()
        env.bridge.busyChanged.emit(False)
        assert not window.busy_label.isVisible(), "hidden as soon as the work is done"


async def test_panels_behind_another_tab_are_hidden(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = await open_window(env.bridge, Preferences.at(tmp_path / "p.ini"), qtbot)
        assert window.panel("Alpha").isVisible()
        assert not window.panel("Beta").isVisible(), "out of sight: its timers may stop"
        window.show_panel("Beta")
        await asyncio.sleep(0.05)
        assert window.panel("Beta").isVisible()
        assert not window.panel("Alpha").isVisible()
        window.close_quietly()

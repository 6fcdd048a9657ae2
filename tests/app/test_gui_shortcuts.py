"""Keyboard shortcuts: every window shortcut fires its action, and the sheet lists them all."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from app.controller import ConsoleController
from app.mainwindow import MainWindow
from app.panels.audit.view import AuditPanel
from app.shortcuts_dialog import WINDOW, gather_shortcuts
from app.widgets.confirm import action_button
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_signal, wait_until

pytestmark = pytest.mark.asyncio


async def press(window: MainWindow, sequence: QKeySequence) -> None:
    """Type ``sequence`` into the window as the operator would, then let Qt react."""
    window.activateWindow()
    await wait_until(lambda: QApplication.activeWindow() is window, what="an active window")
    combination = sequence[0]
    target = QApplication.focusWidget() or window
    QTest.keyClick(target, combination.key(), combination.keyboardModifiers())
    await asyncio.sleep(0.02)


async def open_window(bridge: object, qtbot: QtBot) -> MainWindow:
    window = ConsoleController(bridge).build_main_window()  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    await wait_until(lambda: QApplication.activeWindow() is window, what="an active window")
    return window


async def undo(window: MainWindow, action: QAction) -> None:
    """Close what the action opened, put panels back, and make the window active again."""
    dialogs = [d for d in window.findChildren(QDialog) if d.isVisible()]
    if dialogs:
        await asyncio.sleep(0.3)  # let a dialog finish loading what it shows
    for dialog in dialogs:
        dialog.close()
    if action.objectName() == "fullScreenAction":
        action.trigger()


def window_actions(window: MainWindow) -> list[QAction]:
    return [a for a in window.findChildren(QAction) if a.shortcuts() and a.isEnabled()]


async def test_every_window_shortcut_triggers_its_action(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = await open_window(env.bridge, qtbot)
        logouts: list[bool] = []
        quits: list[bool] = []
        window.logoutRequested.connect(lambda: logouts.append(True))
        window.quitRequested.connect(lambda: quits.append(True))
        actions = window_actions(window)
        names = {a.objectName() for a in actions}
        assert {
            "shortcutsAction",
            "refreshPanelAction",
            "nextPanelAction",
            "previousPanelAction",
            "fullScreenAction",
            "logoutAction",
            "quitAction",
        } <= names
        assert {f"showPanelAction-{n.lower()}" for n in window.panel_names()} <= names

        last = [a for a in actions if a.objectName() == "quitAction"]  # it closes the window
        for action in [a for a in actions if a.objectName() != "quitAction"] + last:
            for sequence in action.shortcuts():
                fired: list[bool] = []

                def slot(*_: object, into: list[bool] = fired) -> None:
                    into.append(True)

                action.triggered.connect(slot)
                await press(window, sequence)
                assert fired == [True], f"{sequence.toString()} did not trigger {action.text()}"
                action.triggered.disconnect(slot)
                await undo(window, action)
        assert logouts == [True]
        assert quits == [], "Ctrl+Q asks first; closing the question keeps the console"
        window.quit_action.trigger()
        assert window.quit_box is not None and window.quit_box.isVisible()
        action_button(window.quit_box).click()
        await asyncio.sleep(0)
        assert quits == [True]


async def test_shortcut_effects(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = await open_window(env.bridge, qtbot)
        desktop = window.desktop

        # F1 and Ctrl+/ open the sheet.
        for keys in ("F1", "Ctrl+/"):
            await press(window, QKeySequence(keys))
            sheet = desktop.shortcuts_dialog
            assert sheet is not None and sheet.isVisible(), keys
            sheet.close()

        # Ctrl+PgDown / Ctrl+PgUp walk through the panels.
        window.show_panel("Dashboard")
        window.panel("Dashboard").setFocus()
        await press(window, QKeySequence("Ctrl+PgDown"))
        current = desktop.current_dock()
        assert current is window.dock("Modules")
        await press(window, QKeySequence("Ctrl+PgUp"))
        assert desktop.current_dock() is window.dock("Dashboard")

        # Alt+N brings a panel to the front, and keeps it there when pressed again.
        for _ in range(2):
            await press(window, QKeySequence("Alt+3"))
            assert desktop.current_dock() is window.dock(window.panel_names()[2])
            assert window.panel(window.panel_names()[2]).isVisible()

        # F5 reloads the panel in front.
        audit = window.panel("Audit")
        assert isinstance(audit, AuditPanel)
        window.show_panel("Audit")
        audit.setFocus()
        await asyncio.sleep(0.05)
        loaded = asyncio.ensure_future(wait_signal(audit.loaded))
        await press(window, QKeySequence("F5"))
        await loaded

        # F11 toggles full screen.
        await press(window, QKeySequence("F11"))
        assert window.windowState() & Qt.WindowState.WindowFullScreen
        assert desktop.full_screen_action.isChecked()
        await press(window, QKeySequence("F11"))
        assert not window.windowState() & Qt.WindowState.WindowFullScreen


async def test_sheet_lists_every_shortcut_of_the_live_window(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = await open_window(env.bridge, qtbot)
        sheet = window.desktop.show_shortcuts()
        listed = {(e.keys, e.action) for e in sheet.entries}
        assert sheet.table.rowCount() == len(sheet.entries)

        for action in window.findChildren(QAction):
            for sequence in action.shortcuts():
                text = sequence.toString(QKeySequence.SequenceFormat.NativeText)
                assert any(text in keys.split(", ") for keys, _ in listed), text
        panel_keys = [s for s in window.findChildren(QShortcut) if not s.key().isEmpty()]
        assert panel_keys, "the panels have shortcuts of their own"
        for shortcut in panel_keys:
            where = [e.where for e in sheet.entries if e.keys == shortcut.key().toString()]
            assert where and WINDOW not in where, shortcut.key().toString()

        assert ("F1, Ctrl+/", "Keyboard shortcuts") in listed
        assert ("A", "Approve the selected patch") in listed
        assert all(action != "(undescribed)" for _, action in listed)
        for number, name in enumerate(window.panel_names()[:9], start=1):
            assert (f"Alt+{number}", f"Show the {name} panel") in listed

        # A shortcut added to the window later is listed by the next sheet, untouched.
        extra = QAction("Do something new", window)
        extra.setShortcut(QKeySequence("Ctrl+Shift+9"))
        window.addAction(extra)
        assert ("Everywhere", "Ctrl+Shift+9", "Do something new") in {
            (e.where, e.keys, e.action) for e in gather_shortcuts(window)
        }

        sheet.filter_edit.setText("panel")
        visible = sheet.visible_entries()
        assert visible and all("panel" in f"{e.action} {e.keys} {e.where}".lower() for e in visible)
        assert len(visible) < len(sheet.entries)

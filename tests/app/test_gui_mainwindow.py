"""The main window: status bar, panels, errors, and the logout round trip."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from app.controller import ConsoleController
from app.mainwindow import MainWindow
from app.panels.signin.login import LoginDialog
from app.widgets.style import severity_of
from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import AuthenticationError
from chimera_engine.events import EngineStateChanged, LoopLagSampled
from tests.app.conftest import EngineFactory
from tests.app.helpers import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    audit_entries,
    is_gone_or_hidden,
    running,
    wait_signal,
    wait_until,
)

pytestmark = pytest.mark.asyncio


def lag_sample(p99_ms: float) -> LoopLagSampled:
    return LoopLagSampled(p50_ms=p99_ms / 4, p99_ms=p99_ms, max_ms=p99_ms * 1.5, samples=20)


async def test_status_bar_shows_user_and_lag(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        window.show()

        assert window.windowTitle() == "admin"  # Qt adds " — CHIMERA Console" itself
        assert window.user_indicator.text() == "admin · admin"
        assert window.engine_indicator.text() == "Engine running"
        assert severity_of(window.engine_indicator) == "ok"
        status_widgets = window.statusBar().findChildren(QLabel)
        for indicator in (window.user_indicator, window.engine_indicator, window.lag_indicator):
            assert indicator in status_widgets

        # The engine's own loop-lag monitor reports about once a second.
        (p99,) = await wait_signal(env.bridge.loopLag, within=3.0)
        assert re.fullmatch(r"Loop lag p99 \d+\.\d ms", window.lag_indicator.text())
        assert window.lag_indicator.p99_ms == p99

        for value, text, severity in (
            (20.04, "Loop lag p99 20.0 ms", "warn"),
            (75.0, "Loop lag p99 75.0 ms", "critical"),
            (3.25, "Loop lag p99 3.2 ms", "ok"),
        ):
            env.node.bus.publish(lag_sample(value))
            await wait_signal(env.bridge.loopLag)
            assert window.lag_indicator.text() == text
            assert severity_of(window.lag_indicator) == severity

        # Engine state events drive the state indicator.
        env.node.bus.publish(EngineStateChanged(state="stopping"))
        await wait_signal(env.bridge.engineStateChanged)
        assert window.engine_indicator.text() == "Engine stopping"
        assert severity_of(window.engine_indicator) == "warn"


async def test_logout_returns_to_login(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        controller = ConsoleController(env.bridge, window_size=(900, 600))
        async with running(controller) as run:
            (dialog,) = await wait_signal(controller.dialogShown)
            dialog.username_edit.setText(ADMIN_NAME)
            dialog.password_edit.setText(ADMIN_PASSWORD)
            dialog.sign_in_button.click()
            (window,) = await wait_signal(controller.mainWindowShown)
            assert window.logout_action.shortcut() == QKeySequence("Ctrl+Shift+L")
            assert window.quit_action.shortcut() == QKeySequence("Ctrl+Q")
            session = env.bridge.session
            assert session is not None

            window.logout_action.trigger()
            (login,) = await wait_signal(controller.dialogShown)

            assert isinstance(login, LoginDialog)
            assert login.isVisible()
            assert login.username_edit.text() == ADMIN_NAME, "the last user name is kept"
            assert login.password_edit.text() == ""
            assert is_gone_or_hidden(window)
            assert env.bridge.session is None
            logouts = await audit_entries(env.node, "auth.logout")
            assert [e.actor for e in logouts] == [ADMIN_NAME]
            with pytest.raises(AuthenticationError, match="session has been ended"):
                await env.node.facade.audit.query(session.principal, AuditQuery(limit=1))

            login.quit_button.click()
            assert await run == 0


async def test_panels_dock_tabified_and_listed_in_view_menu(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        first, second = QLabel("one"), QLabel("two")
        dock_a = window.add_panel("Audit", first)
        dock_b = window.add_panel("Swarm status", second)
        window.show()

        assert isinstance(dock_a, QDockWidget)
        assert dock_b.objectName() == "dock-swarm-status"
        assert window.tabifiedDockWidgets(dock_a) == [dock_b]
        assert [a.text() for a in window.view_menu.actions()][:3] == ["Audit", "Swarm status", ""]
        assert window.panel("Swarm status") is second
        with pytest.raises(ValueError, match="already exists"):
            window.add_panel("Audit", QLabel("again"))

        window.view_menu.actions()[1].trigger()  # toggling hides the panel ...
        assert not dock_b.isVisible()
        window.show_panel("Swarm status")  # ... and it can be brought back
        assert dock_b.isVisible()


async def test_bridge_errors_show_non_modal_message_box(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        window.show()

        async def broken() -> None:
            raise ValueError("disk quota exceeded")

        env.bridge.run(broken(), title="Export failed")
        title, message = await wait_signal(env.bridge.errorRaised)

        assert (title, message) == ("Export failed", "ValueError: disk quota exceeded")
        boxes = window.error_boxes()
        assert len(boxes) == 1
        box = boxes[0]
        assert box.isVisible()
        assert box.windowTitle() == "Export failed"
        assert box.text() == "ValueError: disk quota exceeded"
        assert box.icon() == QMessageBox.Icon.Warning
        # open() makes it window-modal at most: the loop (and this test) keep running.
        assert box.windowModality() != Qt.WindowModality.ApplicationModal
        box.button(QMessageBox.StandardButton.Ok).click()
        assert not box.isVisible()


async def test_lazy_panel_is_built_when_first_shown(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        built: list[str] = []

        def builder(name: str) -> QLabel:
            built.append(name)
            return QLabel(f"the {name} panel")

        window.add_panel("Overview", QLabel("overview"))
        window.add_lazy_panel("Audit", lambda: builder("Audit"))
        window.add_lazy_panel("Swarm", lambda: builder("Swarm"))
        window.show_panel("Overview", focus=False)
        window.show()
        await wait_until(lambda: window.isVisible(), what="window shown")
        assert built == [], "a panel behind its tab is not built"
        assert not window.is_built("Audit")
        assert [a.text() for a in window.view_menu.actions()][:3] == ["Overview", "Audit", "Swarm"]

        window.show_panel("Audit")  # its tab brought to the front: built now, once
        await wait_until(lambda: built == ["Audit"], what="Audit built")
        assert window.is_built("Audit") and not window.is_built("Swarm")
        audit = window.panel("Audit")
        assert isinstance(audit, QLabel) and audit.text() == "the Audit panel"
        await wait_until(audit.isVisible, what="Audit visible")

        swarm = window.panel("Swarm")  # asked for: built even behind its tab
        assert isinstance(swarm, QLabel) and built == ["Audit", "Swarm"]
        window.show_panel("Overview", focus=False)
        window.show_panel("Audit")
        assert built == ["Audit", "Swarm"], "never built twice"
        with pytest.raises(ValueError, match="already exists"):
            window.add_lazy_panel("Audit", lambda: builder("again"))

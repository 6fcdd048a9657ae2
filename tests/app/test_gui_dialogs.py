"""The sign-in and first-administrator dialogs against a real engine."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.controller import ConsoleController
from app.mainwindow import MainWindow
from app.panels.signin.first_admin import FirstAdminDialog
from app.panels.signin.login import LoginDialog
from app.widgets.confirm import action_button
from chimera_engine.security.manager import Session
from tests.app.conftest import EngineFactory
from tests.app.helpers import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    audit_entries,
    is_gone_or_hidden,
    running,
    wait_signal,
)

pytestmark = pytest.mark.asyncio


def login_dialog(bridge: EngineBridge, qtbot: QtBot) -> LoginDialog:
    dialog = LoginDialog(bridge)
    qtbot.addWidget(dialog)
    dialog.open()
    return dialog


async def submit_and_wait(bridge: EngineBridge, dialog: LoginDialog) -> None:
    """Click Sign in and wait until the engine answered and the dialog showed it."""
    dialog.sign_in_button.click()
    assert not dialog.sign_in_button.isEnabled(), "the button must be disabled in flight"
    assert dialog.sign_in_button.text() == "Signing in…"
    assert await wait_signal(bridge.busyChanged) == (False,)


async def test_login_dialog_wrong_password_shows_error(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        dialog = login_dialog(env.bridge, qtbot)
        assert dialog.password_edit.echoMode() == QLineEdit.EchoMode.Password
        assert dialog.sign_in_button.isDefault()
        assert not dialog.error_label.isVisible()

        dialog.username_edit.setText(ADMIN_NAME)
        dialog.password_edit.setText("not the password")
        await submit_and_wait(env.bridge, dialog)

        assert dialog.error_label.isVisible()
        assert dialog.error_label.text() == "invalid username or password"
        assert dialog.error_label.wordWrap()
        assert dialog.password_edit.text() == "", "the refused password is cleared"
        assert dialog.sign_in_button.isEnabled()
        assert dialog.isVisible()
        assert env.bridge.session is None
        logins = await audit_entries(env.node, "auth.login")  # newest first
        assert [(e.actor, e.outcome) for e in logins] == [
            (ADMIN_NAME, "denied"),
            (ADMIN_NAME, "ok"),  # when the fixture created the administrator
        ]


async def test_login_dialog_locked_account_shows_lockout(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        dialog = login_dialog(env.bridge, qtbot)
        for _ in range(env.node.settings.security.lockout_threshold):
            dialog.username_edit.setText(ADMIN_NAME)
            dialog.password_edit.setText("not the password")
            await submit_and_wait(env.bridge, dialog)
        assert dialog.error_label.text() == (
            "too many failed logins for this name from here; try again in 30 s"
        )

        # Even the right password is refused from here while the name waits.
        dialog.password_edit.setText(ADMIN_PASSWORD)
        await submit_and_wait(env.bridge, dialog)
        assert dialog.error_label.text().startswith("too many failed logins for this name")
        assert env.bridge.session is None


async def test_login_dialog_checks_empty_fields_locally(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        dialog = login_dialog(env.bridge, qtbot)
        dialog.sign_in_button.click()
        assert dialog.error_label.text() == "enter your user name"
        dialog.username_edit.setText(ADMIN_NAME)
        dialog.sign_in_button.click()
        assert dialog.error_label.text() == "enter your password"
        assert env.bridge.pending_tasks() == 0, "nothing was sent to the engine"
        assert [e.outcome for e in await audit_entries(env.node, "auth.login")] == ["ok"]


async def test_login_dialog_right_password_opens_main_window(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        controller = ConsoleController(env.bridge, window_size=(1024, 700))
        async with running(controller) as run:
            (dialog,) = await wait_signal(controller.dialogShown)
            assert isinstance(dialog, LoginDialog)
            assert dialog.isVisible()

            dialog.username_edit.setText(ADMIN_NAME)
            dialog.password_edit.setText(ADMIN_PASSWORD)
            QTest.keyClick(dialog.password_edit, Qt.Key.Key_Return)  # Enter: default button
            (window,) = await wait_signal(controller.mainWindowShown)

            assert isinstance(window, MainWindow)
            assert window.isVisible()
            assert is_gone_or_hidden(dialog)
            assert window.windowTitle() == "admin"
            names = window.panel_names()
            assert names[0] == "Overview"
            assert {"Dashboard", "Modules", "Patches", "Audit", "Admin"} <= set(names)
            assert env.bridge.session is not None
            assert env.bridge.session.principal.name == ADMIN_NAME
            logins = await audit_entries(env.node, "auth.login")
            assert [(e.actor, e.outcome, e.detail) for e in logins[:1]] == [
                (ADMIN_NAME, "ok", {"client": "console"})
            ]

            window.quit_action.trigger()
            assert window.quit_box is not None, "quitting stops the engine: it asks first"
            action_button(window.quit_box).click()
            assert await asyncio.wait_for(run, 5) == 0
            assert is_gone_or_hidden(window)
            assert env.bridge.session is None, "quitting ends the session in the engine"
            logouts = await audit_entries(env.node, "auth.logout")
            assert [e.actor for e in logouts] == [ADMIN_NAME]


async def test_first_admin_dialog_creates_admin(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine(admin=False) as env:
        bridge = env.bridge
        assert await bridge.needs_first_admin()
        dialog = FirstAdminDialog(bridge)
        qtbot.addWidget(dialog)
        dialog.open()
        texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
        assert "No account exists yet" in texts
        assert "first administrator" in texts
        created: list[Session] = []
        dialog.adminCreated.connect(created.append)

        # A mismatched confirmation never reaches the engine.
        dialog.username_edit.setText("root-admin")
        dialog.password_edit.setText("correct horse battery")
        dialog.confirm_edit.setText("correct horse battery!")
        dialog.create_button.click()
        assert dialog.error_label.isVisible()
        assert dialog.error_label.text() == "the passwords do not match"
        assert bridge.pending_tasks() == 0
        assert dialog.confirm_edit.text() == ""

        # The engine's password policy is shown inline: too short, then too common.
        for password, message in (
            ("short", "password must be at least 8 characters"),
            ("password", "password is too common; choose another"),
        ):
            dialog.password_edit.setText(password)
            dialog.confirm_edit.setText(password)
            dialog.create_button.click()
            assert not dialog.create_button.isEnabled()
            assert await wait_signal(bridge.busyChanged) == (False,)
            assert dialog.error_label.text() == message
            assert dialog.isVisible()
            assert dialog.create_button.isEnabled()
        assert await bridge.needs_first_admin(), "refused attempts created no account"

        dialog.password_edit.setText("correct horse battery")
        dialog.confirm_edit.setText("correct horse battery")
        dialog.create_button.click()
        (session,) = await wait_signal(dialog.adminCreated)

        assert created == [session]
        assert session.principal.name == "root-admin"
        assert session.principal.role.value == "admin"
        assert bridge.session == session, "the new administrator is signed in"
        assert dialog.result() == QDialog.DialogCode.Accepted
        assert not dialog.isVisible()
        assert not await bridge.needs_first_admin()
        entries = await audit_entries(env.node, "user.create_first_admin")
        assert [e.outcome for e in entries] == ["ok", "denied", "denied"]

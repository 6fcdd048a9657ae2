"""The Admin panel against a real engine: API keys shown once and revoked for real,
users managed through dialogs, capabilities and rate limits, and the non-admin view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.admin.access import RateLimitsTab
from app.panels.admin.users_dialog import ChangeRoleDialog, CreateUserDialog, ResetPasswordDialog
from app.panels.admin.view import AdminPanel
from app.widgets.confirm import action_button
from app.widgets.style import severity_of
from chimera_engine.errors import AuthenticationError
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Permission
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_signal, wait_until

pytestmark = pytest.mark.asyncio

NEW_PASSWORD = "tangerine submarine 42"


async def open_admin(bridge: EngineBridge, qtbot: QtBot, user: str = ADMIN_NAME) -> AdminPanel:
    await bridge.login(user, ADMIN_PASSWORD)
    panel = AdminPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1100, 640)
    panel.show()
    return panel


async def api_status(node: HeartNode, key: str) -> int | None:
    """HTTP status of GET /api/tools with ``key``; None when the API is not running."""
    if node.api is None:
        return None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{node.api.url}/api/tools", headers={"X-API-Key": key})
    return response.status_code


def key_row(tab: Any, name: str) -> list[str] | None:
    """The key's cells (the engine's own keys, such as the swarm agents' node key, are
    listed too)."""
    return next((cells for cells in tab.model.texts() if cells[0] == name), None)


async def test_new_key_is_shown_once_and_works(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        panel = await open_admin(env.bridge, qtbot)
        tab = panel.keys_tab
        panel.tabs.setCurrentWidget(tab)
        await wait_signal(tab.loaded)
        assert not tab.secret.isVisible()

        dialog = tab.new_key()
        assert dialog.isVisible()
        assert dialog.role == "api_client"
        offered = [dialog.scope_list.item(i).text() for i in range(dialog.scope_list.count())]
        assert "tool.read" in offered
        assert "user.manage" not in offered, "only permissions of the chosen role"
        dialog.submit_button.click()
        assert dialog.error_label.text() == "enter a name that says who uses the key"
        dialog.name_edit.setText("ci-bot")
        dialog.set_scopes(["tool.read", "tool.call"])
        dialog.rate_spin.setValue(120)
        dialog.expiry_spin.setValue(30)
        dialog.submit_button.click()
        action, ok, text = await wait_signal(tab.actionFinished)
        assert (action, ok) == ("create key", True)

        # Shown once, in the read-only field, and nowhere in the table.
        plaintext = tab.secret.secret
        assert plaintext.startswith("chk_")
        assert tab.secret.isVisible()
        assert tab.secret.field.isReadOnly()
        assert "will not be shown again" in tab.secret.warning.text()
        await wait_until(lambda: key_row(tab, "ci-bot") is not None, what="the key's row")
        cells = key_row(tab, "ci-bot")
        assert cells is not None
        assert cells[:3] == ["ci-bot", f"chk_{plaintext.split('_')[1]}", "api_client"]
        assert cells[3:6] == ["tool.call, tool.read", "120/min", cells[5]]
        assert cells[6] == "active"
        assert all(plaintext not in cell for cell in cells)
        assert plaintext not in tab.status_label.text()
        assert text == f"Created API key ci-bot (chk_{plaintext.split('_')[1]}_…)"
        created = await audit_entries(env.node, "apikey.create")
        assert plaintext not in repr(created)

        # The key authenticates against the engine, with its scopes.
        key, principal = env.node.security.api_keys.authenticate(plaintext)
        assert (key.name, key.rate_limit) == ("ci-bot", 120)
        assert principal.can(Permission.TOOL_READ)
        assert not principal.can(Permission.METRICS_READ), "scoped to what was checked"
        assert await api_status(env.node, plaintext) in (200, None)

        tab.secret.copy_button.click()
        assert QGuiApplication.clipboard().text() == plaintext
        tab.secret.dismiss_button.click()
        assert tab.secret.secret == ""
        assert not tab.secret.isVisible()


async def test_revoking_a_key_refuses_its_next_call(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        plaintext, key = await env.node.facade.admin.create_api_key(
            env.admin.principal, name="grafana", role="api_client"
        )
        assert await api_status(env.node, plaintext) in (200, None)
        panel = await open_admin(env.bridge, qtbot)
        tab = panel.keys_tab
        panel.tabs.setCurrentWidget(tab)
        await wait_until(lambda: key_row(tab, "grafana") is not None)
        assert tab.select_key(key.id)
        assert tab.revoke_button.isEnabled()

        # Cancelling the confirmation changes nothing.
        box = tab.revoke()
        assert box is not None
        assert "grafana" in box.text()
        box.reject()
        assert env.node.security.api_keys.authenticate(plaintext)[0].id == key.id

        box = tab.revoke()
        assert box is not None
        action_button(box).click()
        action, ok, text = await wait_signal(tab.actionFinished)
        assert (action, ok) == ("revoke the key", True)
        assert text == f"Revoked API key grafana (chk_{key.prefix}_…)"
        with pytest.raises(AuthenticationError, match="revoked"):
            env.node.security.api_keys.authenticate(plaintext)
        assert await api_status(env.node, plaintext) in (401, None)
        await wait_until(lambda: (key_row(tab, "grafana") or [""] * 7)[6] == "revoked")
        assert not tab.revoke_button.isEnabled()
        revocations = await audit_entries(env.node, "apikey.revoke")
        assert [(e.actor, e.target) for e in revocations] == [(ADMIN_NAME, f"key:{key.prefix}")]


async def test_users_are_managed_through_dialogs(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        panel = await open_admin(env.bridge, qtbot)
        tab = panel.users_tab
        await wait_until(lambda: tab.model.rowCount() == 1)
        assert tab.model.texts()[0][:3] == [ADMIN_NAME, "admin", "active"]

        dialog = tab.new_user()
        assert isinstance(dialog, CreateUserDialog)
        dialog.username_edit.setText("dana")
        dialog.role_combo.setCurrentIndex(dialog.role_combo.findData("operator"))
        dialog.password_edit.setText(NEW_PASSWORD)
        dialog.confirm_edit.setText("something else")
        dialog.submit_button.click()
        assert dialog.error_label.text() == "the passwords do not match"
        dialog.password_edit.setText("short")
        dialog.confirm_edit.setText("short")
        dialog.submit_button.click()
        await wait_signal(env.bridge.busyChanged)
        await wait_until(lambda: not env.bridge.busy)
        assert dialog.error_label.isVisible(), "the engine's password policy, inline"
        assert "8" in dialog.error_label.text()
        dialog.password_edit.setText(NEW_PASSWORD)
        dialog.confirm_edit.setText(NEW_PASSWORD)
        dialog.submit_button.click()
        change, ok, text = await wait_signal(tab.actionFinished)
        assert (change, ok, text) == ("created", True, "Created dana (operator)")
        await wait_until(lambda: tab.model.rowCount() == 2)
        await wait_until(lambda: getattr(tab.selected(), "username", "") == "dana")

        tab.disable_button.click()
        change, ok, _ = await wait_signal(tab.actionFinished)
        assert (change, ok) == ("disable", True)
        with pytest.raises(AuthenticationError):
            await env.node.facade.sessions.login("dana", NEW_PASSWORD)
        await wait_until(lambda: tab.disable_button.text() == "Enable")
        assert [row[2] for row in tab.model.texts() if row[0] == "dana"] == ["disabled"]
        tab.disable_button.click()
        await wait_signal(tab.actionFinished)

        role_dialog = tab.change_role()
        assert isinstance(role_dialog, ChangeRoleDialog)
        role_dialog.role_combo.setCurrentIndex(role_dialog.role_combo.findData("observer"))
        role_dialog.submit_button.click()
        change, ok, text = await wait_signal(tab.actionFinished)
        assert (change, ok, text) == ("role", True, "dana is now observer")

        reset = tab.reset_password()
        assert isinstance(reset, ResetPasswordDialog)
        reset.password_edit.setText("a brand new passphrase")
        reset.confirm_edit.setText("a brand new passphrase")
        reset.submit_button.click()
        await wait_signal(tab.actionFinished)
        session = await env.node.facade.sessions.login("dana", "a brand new passphrase")
        assert session.principal.role.value == "observer"

        # Refusals by the engine stay inline: an administrator cannot disable themself.
        assert tab.select_key(env.bridge.principal.user_id)
        tab.disable_button.click()
        change, ok, text = await wait_signal(tab.actionFinished)
        assert (change, ok) == ("disable", False)
        assert text == "Could not disable: you cannot disable your own account"
        assert severity_of(tab.status_label) == "critical"


async def test_capabilities_and_rate_limits(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        token, cap = await env.node.facade.admin.issue_capability(
            env.admin.principal, Permission.PATCH_APPROVE, "patch:42", ttl=600
        )
        panel = await open_admin(env.bridge, qtbot)
        caps = panel.capabilities_tab
        panel.tabs.setCurrentWidget(caps)
        await wait_until(lambda: caps.model.rowCount() == 1)
        assert caps.model.texts()[0][:3] == ["patch.approve", "patch:42", ADMIN_NAME]
        assert caps.select_key(cap.jti)
        box = caps.revoke()
        assert box is not None
        action_button(box).click()
        _, ok, _ = await wait_signal(caps.actionFinished)
        assert ok
        assert await env.node.facade.admin.capabilities_in_force(env.admin.principal) == []
        with pytest.raises(AuthenticationError, match="revoked"):
            env.node.security.capabilities.decode(token)
        await wait_until(lambda: caps.model.rowCount() == 0)

        # Rate limits: live while shown, quiet when hidden.
        plaintext, _ = await env.node.facade.admin.create_api_key(
            env.admin.principal, name="poller", role="api_client"
        )
        await api_status(env.node, plaintext)
        rates = RateLimitsTab(env.bridge, interval_ms=50)
        qtbot.addWidget(rates)
        rates.show()
        assert rates.timer.isActive()
        await wait_signal(rates.loaded)
        await wait_signal(rates.loaded)  # refreshed again by the timer
        if env.node.api is not None:
            assert any(row[0] == "key:poller" for row in rates.model.texts())
        rates.hide()
        assert not rates.timer.isActive()


async def test_non_admin_sees_the_empty_state(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "operator"
        )
        panel = await open_admin(env.bridge, qtbot, user="olga")
        assert not panel.is_admin_view
        assert panel.empty_state.isVisible()
        assert not panel.tabs.isVisible()
        assert panel.empty_state.title.text() == "Administrators only"
        assert "olga (operator)" in panel.empty_state.text.text()
        assert env.bridge.pending_tasks() == 0, "nothing was asked of the engine"
        assert panel.users_tab.model.rowCount() == 0

        # Signing in as an administrator shows the tabs.
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        assert panel.is_admin_view
        await wait_until(lambda: panel.users_tab.model.rowCount() == 2)


async def test_login_throttles_are_shown_and_cleared(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        attacker = "api:203.0.113.5"
        for _ in range(6):
            with pytest.raises(AuthenticationError):
                await env.node.facade.sessions.login(
                    ADMIN_NAME, "not the password", client=attacker
                )
        panel = await open_admin(env.bridge, qtbot)
        tab = panel.throttles_tab
        panel.tabs.setCurrentWidget(tab)
        await wait_until(lambda: tab.model.rowCount() == 1)
        row = tab.model.texts()[0]
        assert row[:3] == [ADMIN_NAME, attacker, "5"]  # the sixth waited, uncounted
        assert row[3].endswith(" s")  # that pair waits; the console login above did not
        assert tab.select_key((ADMIN_NAME, attacker))
        box = tab.clear()
        assert box is not None
        action_button(box).click()
        _, ok, _ = await wait_signal(tab.actionFinished)
        assert ok
        assert await env.node.facade.admin.login_throttles(env.admin.principal) == []
        await wait_until(lambda: tab.model.rowCount() == 0)
        entries = await audit_entries(env.node, "auth.throttle_clear")
        assert entries and entries[0].target == ADMIN_NAME

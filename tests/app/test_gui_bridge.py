"""EngineBridge: operations, error reporting, token refresh, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from pytestqt.qtbot import QtBot

from app.about_dialog import about_details
from app.clients.admin import AdminClient
from app.clients.audit import AuditClient
from app.clients.demo import DemoClient
from app.clients.metrics import MetricsClient
from app.clients.modules import ModulesClient
from app.clients.overview import OverviewClient
from app.clients.patches import PatchesClient
from app.clients.settings import SettingsClient
from app.clients.swarm import SwarmClient
from app.controller import SESSION_ENDED, ConsoleController
from app.panels.signin.login import LoginDialog
from app.startup import bridge_for
from chimera_engine.errors import AuthenticationError, PermissionDeniedError, ValidationError
from chimera_engine.node import HeartNode
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

SHORT_TOKENS = {"CHIMERA_SECURITY__ACCESS_TOKEN_TTL": "2"}


async def test_bridge_run_reports_errors_and_busy(engine: EngineFactory) -> None:
    async with engine() as env:
        bridge = env.bridge
        busy: list[bool] = []
        errors: list[tuple[str, str]] = []
        handled: list[Exception] = []
        bridge.busyChanged.connect(busy.append)
        bridge.errorRaised.connect(lambda title, message: errors.append((title, message)))

        async def fail(exc: Exception) -> int:
            raise exc

        # No on_error: an engine error is shown to the operator.
        task = bridge.run(fail(ValidationError("bad input")), title="Save failed")
        assert busy == [True]
        assert await task is None
        assert errors == [("Save failed", "bad input")]
        assert busy == [True, False]

        # on_error handles an expected engine error; nothing else is shown.
        await bridge.run(fail(ValidationError("bad again")), on_error=handled.append)
        assert [str(e) for e in handled] == ["bad again"]
        assert len(errors) == 1

        # A bug (not a ChimeraError) is always shown, even with on_error.
        await bridge.run(fail(KeyError("tool")), on_error=handled.append, title="Oops")
        assert errors[-1] == ("Oops", "KeyError: 'tool'")
        assert len(handled) == 2

        # Success: the callback gets the result.
        results: list[bool] = []
        assert await bridge.run(bridge.needs_first_admin(), on_success=results.append) is False
        assert results == [False]

        # Without a session, engine operations are refused before reaching the engine.
        with pytest.raises(AuthenticationError, match="not signed in"):
            await bridge.audit.verify()


async def test_bridge_reaches_the_engine_through_one_client_per_feature(
    engine: EngineFactory,
) -> None:
    async with engine() as env:
        bridge = env.bridge
        clients = {
            "modules": ModulesClient,
            "patches": PatchesClient,
            "metrics": MetricsClient,
            "swarm": SwarmClient,
            "audit": AuditClient,
            "admin": AdminClient,
            "settings": SettingsClient,
            "overview": OverviewClient,
            "demo": DemoClient,
        }
        for name, kind in clients.items():
            assert type(getattr(bridge, name)) is kind, name
        # Neither the bridge nor a client holds the node (or reaches it by attribute).
        assert not hasattr(bridge, "node")
        for holder in [bridge, *(getattr(bridge, name) for name in clients)]:
            held = vars(holder).values()
            assert not any(isinstance(value, HeartNode) for value in held), holder

        # The few in-process reads say what the engine says, when asked.
        assert bridge.engine_state == env.node.state == "running"
        assert bridge.data_dir == str(env.node.settings.data_dir)
        assert bridge.workspace == str(env.node.settings.workspace_path)
        api = env.node.api
        assert bridge.api_address() == ((api.port, api.url) if api and api.port else None)
        details = dict(about_details(bridge))
        assert details["Data directory"] == str(env.node.settings.data_dir)
        assert details["Workspace"] == str(env.node.settings.workspace_path)

        # Every client acts as the signed-in user: nobody signed in, nothing reaches the engine.
        before = len(await audit_entries(env.node))
        for call in (bridge.modules.list_modules, bridge.demo.status, bridge.overview.read):
            with pytest.raises(AuthenticationError, match="not signed in"):
                await call()
        assert len(await audit_entries(env.node)) == before
        # Signed in as an observer, a reload is refused by the engine and audited there.
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        await bridge.login("olga", ADMIN_PASSWORD)
        assert await bridge.modules.list_modules()
        with pytest.raises(PermissionDeniedError):
            await bridge.modules.reload_module("greeter")
        denied = await audit_entries(env.node, "tool.reload")
        assert [(e.actor, e.outcome) for e in denied if e.actor == "olga"] == [("olga", "denied")]


async def test_bridge_aclose_cancels_its_tasks(engine: EngineFactory) -> None:
    async with engine() as env:
        bridge = bridge_for(env.node)
        await bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        slow = bridge.run(asyncio.sleep(60))
        assert bridge.pending_tasks() == 1
        assert bridge.busy
        await bridge.aclose()
        assert slow.cancelled()
        assert bridge.pending_tasks() == 0
        assert not bridge.busy
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="closed"):
            bridge.run(coro)
        # The closed bridge no longer listens to the engine.
        events: list[object] = []
        bridge.auditAppended.connect(events.append)
        await env.node.security.audit.record(None, "test.after_close")
        await asyncio.sleep(0.05)
        assert events == []


async def test_bridge_refreshes_token_before_expiry(engine: EngineFactory) -> None:
    async with engine(**SHORT_TOKENS) as env:
        session = await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        assert session.tokens.expires_in == 2
        assert env.bridge.refresh_delay(session) == pytest.approx(1.6), "at 80% of the lifetime"

        bridge = bridge_for(env.node, refresh_at=0.2)
        try:
            first = await bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
            (fresh,) = await wait_signal(bridge.sessionChanged, within=3.0)
            assert fresh is bridge.session
            assert isinstance(fresh, Session)
            assert fresh.tokens.access_token != first.tokens.access_token
            assert fresh.principal.token_id != first.principal.token_id
            # The new principal is accepted; the rotated refresh token is not.
            verified = await bridge.audit.verify()
            assert verified.ok
            with pytest.raises(AuthenticationError, match="revoked"):
                await env.node.facade.sessions.refresh(first.tokens.refresh_token)
            refreshes = await audit_entries(env.node, "auth.refresh")
            assert [(e.actor, e.outcome) for e in refreshes] == [
                ("anonymous", "denied"),
                (ADMIN_NAME, "ok"),
            ]
        finally:
            await bridge.aclose()


async def test_session_ended_by_engine_returns_to_login(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine(**SHORT_TOKENS) as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "otto", ADMIN_PASSWORD, "operator"
        )
        env.bridge.refresh_at = 0.25  # refresh after 0.5 s
        controller = ConsoleController(env.bridge, window_size=(900, 600))
        async with running(controller) as run:
            (dialog,) = await wait_signal(controller.dialogShown)
            dialog.username_edit.setText("otto")
            dialog.password_edit.setText(ADMIN_PASSWORD)
            dialog.sign_in_button.click()
            (window,) = await wait_signal(controller.mainWindowShown)

            # An administrator disables the account: the next refresh is refused. The
            # administrator signs in now: the first session's 2 s token may have run out
            # while a loaded machine built the window.
            admin = await env.node.facade.sessions.login(ADMIN_NAME, ADMIN_PASSWORD)
            await env.node.facade.admin.set_user_disabled(admin.principal, "otto", True)
            (login,) = await wait_signal(controller.dialogShown, within=3.0)

            assert isinstance(login, LoginDialog)
            assert login.error_label.isVisible()
            assert login.error_label.text() == SESSION_ENDED
            assert is_gone_or_hidden(window)
            assert env.bridge.session is None
            # No refresh succeeded once the account was disabled (one may have succeeded
            # before, on a slow start; the engine may also end the session without one).
            (disabled,) = await audit_entries(env.node, "user.disable")
            refreshes = await audit_entries(env.node, "auth.refresh")
            assert all(e.outcome == "denied" for e in refreshes if e.seq > disabled.seq)

            login.reject()
            assert await run == 0

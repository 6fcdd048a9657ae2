"""The Settings dialog against a real engine: validation next to the fields, saving
(the engine's settings and its file change), test connection, read-only roles."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.mainwindow import MainWindow
from app.panels.settings.dialog import SettingsDialog
from app.panels.settings.fields import PathEdit
from app.startup import bridge_for
from app.widgets.style import severity_of
from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_signal
from tests.patches.fakes import openai_sse, serve_loopback, stream_events

pytestmark = pytest.mark.asyncio

KEY = "sk-test-SECRETSECRET0123456789"


@dataclass
class Env:
    node: HeartNode
    bridge: EngineBridge
    config: Path


@contextlib.asynccontextmanager
async def configured_engine(tmp_path: Path, role: str = "admin") -> AsyncIterator[Env]:
    """A real engine reading (and saving to) its own settings file, signed in as ``role``."""
    config = tmp_path / "config.toml"
    config.write_text("# operator's notes\n[metrics]\nlatency_threshold_ms = 800.0  # p50\n")
    settings = load_settings(
        config_path=config,
        data_dir=tmp_path / "data",
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_SWARM__ENABLED": "false"},
    )
    node = HeartNode(settings)
    await node.start()
    bridge = bridge_for(node)
    try:
        admin = await node.facade.sessions.create_first_admin(ADMIN_NAME, ADMIN_PASSWORD)
        name = ADMIN_NAME
        if role != "admin":
            name = f"{role}1"
            await node.facade.admin.create_user(admin.principal, name, ADMIN_PASSWORD, role)
        await bridge.login(name, ADMIN_PASSWORD)
        yield Env(node, bridge, config)
    finally:
        await bridge.aclose()
        await node.stop()


async def open_dialog(env: Env, qtbot: QtBot) -> SettingsDialog:
    dialog = SettingsDialog(env.bridge)
    qtbot.addWidget(dialog)
    dialog.open()
    if dialog._view is None:
        await wait_signal(dialog.loaded)
    return dialog


def message(dialog: SettingsDialog, key: str) -> tuple[str, str]:
    for grid in dialog.grids.values():
        if key in grid.rows:
            label = grid.rows[key].message
            return label.text(), severity_of(label)
    raise KeyError(key)


def type_into(dialog: SettingsDialog, key: str, text: str) -> None:
    editor = dialog.editor(key)
    assert isinstance(editor, (QLineEdit, PathEdit))
    editor.setText(text)


def choose(dialog: SettingsDialog, key: str, value: str) -> None:
    combo = dialog.editor(key)
    assert isinstance(combo, QComboBox)
    index = combo.findData(value)
    assert index >= 0
    combo.setCurrentIndex(index)


def tab_title(dialog: SettingsDialog, name: str) -> str:
    return dialog.tabs.tabText(dialog.tabs.indexOf(dialog.grids[name]))


async def test_mistakes_show_next_to_the_field_and_keep_save_disabled(
    tmp_path: Path, qtbot: QtBot
) -> None:
    async with configured_engine(tmp_path) as env:
        dialog = await open_dialog(env, qtbot)
        assert dialog.editor("api.port").isEnabled()
        assert not dialog.save_button.isEnabled()  # nothing changed yet
        assert dialog.save_button.toolTip() == "Nothing changed yet"
        cases: list[tuple[str, Any, str]] = [
            ("api.port", "80a", "whole number from 0 to 65535"),
            ("api.port", "70000", "whole number from 0 to 65535"),
            ("api.host", "", "address to listen on"),
            ("codegen.base_url", "localhost:8080", "http:// or https://"),
            ("engine.data_dir", "relative/dir", "absolute path"),
            ("swarm.initial_agents", "executor:x", "executor:x"),
            ("codegen.api_key_env", "MY KEY", "environment variable name"),
        ]
        for key, bad, expected in cases:
            original = dialog.editor(key)
            good = original.text() if isinstance(original, (QLineEdit, PathEdit)) else ""
            type_into(dialog, key, bad)
            text, severity = message(dialog, key)
            assert expected in text and severity == "critical", (key, text)
            assert not dialog.save_button.isEnabled()
            assert dialog.save_button.toolTip().startswith(f"Fix {key} first")
            type_into(dialog, key, good)
            assert message(dialog, key)[1] != "critical"

        # rules that depend on another field
        choose(dialog, "codegen.provider", "ollama")
        type_into(dialog, "codegen.model", "")
        assert "needs a model name" in message(dialog, "codegen.model")[0]
        assert tab_title(dialog, "provider") == "LLM provider ⚠"
        type_into(dialog, "codegen.model", "qwen2.5-coder:7b")
        assert tab_title(dialog, "provider") == "LLM provider"
        choose(dialog, "swarm.backend", "dask")
        assert "scheduler's address" in message(dialog, "swarm.scheduler_address")[0]
        assert tab_title(dialog, "swarm") == "Swarm ⚠" and not dialog.save_button.isEnabled()
        type_into(dialog, "swarm.scheduler_address", "tcp://10.0.0.5:8786")
        assert dialog.problems() == {}
        assert dialog.save_button.isEnabled()


async def test_saving_changes_the_engine_and_its_file(tmp_path: Path, qtbot: QtBot) -> None:
    async with configured_engine(tmp_path) as env:
        dialog = await open_dialog(env, qtbot)
        grid = dialog.grids["alerts"]
        assert grid.rows["metrics.latency_threshold_ms"].when.text() == "applies now"
        assert dialog.grids["api"].rows["api.port"].when.text() == "at next start"
        dialog.editor("metrics.latency_threshold_ms").setValue(250.0)  # type: ignore[attr-defined]
        dialog.editor("codegen.auto_approve").setChecked(True)  # type: ignore[attr-defined]
        dialog.editor("codegen.auto_approve_max_lines").setValue(7)  # type: ignore[attr-defined]
        type_into(dialog, "api.port", "9100")
        assert dialog.save_button.isEnabled()
        dialog.save_button.click()
        (change,) = await wait_signal(dialog.saved)

        assert set(change.applied) == {
            "metrics.latency_threshold_ms",
            "codegen.auto_approve",
            "codegen.auto_approve_max_lines",
        }
        assert change.at_restart == ("api.port",)
        node = env.node
        assert node.settings.metrics.latency_threshold_ms == 250.0
        assert node.patches.approval.auto_approve
        assert node.patches.approval.max_changed_lines == 7
        text = env.config.read_text()
        assert "latency_threshold_ms = 250.0  # p50" in text and "port = 9100" in text
        assert dialog.status.text() == "Saved: 3 applied now; 1 take effect at the next start."
        assert severity_of(dialog.status) == "ok"
        assert message(dialog, "api.port") == ("Saved; takes effect at the next start.", "warn")
        assert not dialog.save_button.isEnabled()  # saved: nothing left to save
        entries = await audit_entries(node, "settings.update")
        assert entries and entries[0].actor == ADMIN_NAME
        assert "api.port" in entries[0].detail["changed"]


async def _chat(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer {KEY}":
        body = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
        return web.json_response(body, status=401)
    return await stream_events(request, openai_sse(["ok"], usage=(19, 1)))


@contextlib.asynccontextmanager
async def openai_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    async with serve_loopback(app) as url:
        yield f"{url}/v1"


async def test_test_connection_shows_the_result_and_a_saved_key_is_only_reported(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with configured_engine(tmp_path) as env, openai_server() as url:
        dialog = await open_dialog(env, qtbot)
        provider = dialog.provider
        choose(dialog, "codegen.provider", "openai")
        type_into(dialog, "codegen.base_url", url)
        assert provider.key_status.text() == "No key: set OPENAI_API_KEY or paste one below."
        assert provider.key_edit.isEnabled()  # the engine started on replay, which takes none

        provider.key_edit.setText("sk-wrong-000000000000000000")
        provider.test_button.click()
        assert provider.test_button.text() == "Testing…" and not provider.progress.isHidden()
        (report,) = await wait_signal(provider.testFinished)
        assert not report.ok and report.kind == "auth"
        assert provider.test_result.text().startswith("The API key was refused")
        assert severity_of(provider.test_result) == "critical"
        assert provider.progress.isHidden() and provider.test_button.text() == "Test connection"

        provider.key_edit.setText(KEY)
        provider.test_button.click()
        (report,) = await wait_signal(provider.testFinished)
        assert report.ok, report.message
        assert provider.test_result.text().startswith("Connected: openai gpt-4o-mini answered")
        assert severity_of(provider.test_result) == "ok"

        dialog.save_button.click()
        await wait_signal(dialog.saved)
        assert provider.key_edit.text() == ""
        assert provider.key_status.text() == "A key is stored (encrypted file)."
        assert env.node.settings.codegen.provider == "openai"
        assert KEY not in env.config.read_text()
        entries = await audit_entries(env.node, "settings.")
        actions = {e.action for e in entries}
        assert {"settings.update", "settings.key_set", "settings.test_provider"} <= actions
        assert all(KEY not in str(e.detail) for e in entries)

        provider.clear_key_button.click()
        (status,) = await wait_signal(provider.keyChanged)
        assert not status.stored
        assert provider.key_status.text() == "No key: set OPENAI_API_KEY or paste one below."


async def test_observers_see_the_settings_read_only(tmp_path: Path, qtbot: QtBot) -> None:
    async with configured_engine(tmp_path, role="operator") as env:
        dialog = await open_dialog(env, qtbot)
        assert dialog.editor("api.port").text() == "8765"  # type: ignore[attr-defined]
        for key in ("api.port", "engine.data_dir", "codegen.provider", "swarm.backend"):
            assert not dialog.editor(key).isEnabled(), key
        reason = "Requires the settings.manage permission; operator1 (operator) does not have it"
        assert dialog.notice.text() == f"Read-only: {reason}."
        assert not dialog.notice.isHidden()
        assert not dialog.save_button.isEnabled() and dialog.save_button.toolTip() == reason
        assert not dialog.provider.test_button.isEnabled()
        assert dialog.provider.test_button.toolTip() == reason


async def test_file_settings_opens_the_dialog(tmp_path: Path, qtbot: QtBot) -> None:
    async with configured_engine(tmp_path) as env:
        window = MainWindow(env.bridge)
        qtbot.addWidget(window)
        window.show()
        assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
        window.settings_action.trigger()
        dialog = window.settings_dialog
        assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
        await wait_signal(dialog.loaded)
        assert isinstance(dialog.parent(), QWidget)
        assert dialog.header.text.text().startswith(f"Saved to {env.config}.")
        dialog.close()


async def test_an_engine_refusal_is_shown_and_nothing_changes(tmp_path: Path, qtbot: QtBot) -> None:
    async with configured_engine(tmp_path) as env:
        dialog = await open_dialog(env, qtbot)
        env.config.write_text("[metrics\nbroken = ")  # edited by hand meanwhile, badly
        dialog.editor("codegen.auto_approve").setChecked(True)  # type: ignore[attr-defined]
        dialog.save_button.click()
        await wait_signal(env.bridge.busyChanged)  # the save started
        while env.bridge.busy:
            await wait_signal(env.bridge.busyChanged)
        assert dialog.status.text().startswith("Not saved: ")
        assert "not valid TOML" in dialog.status.text()
        assert severity_of(dialog.status) == "critical"
        assert not env.node.patches.approval.auto_approve
        assert dialog.save_button.isEnabled()  # the operator may fix the file and retry


async def test_close_asks_before_dropping_edits_and_messages_stay_current(
    tmp_path: Path, qtbot: QtBot
) -> None:
    from app.widgets.confirm import action_button

    async with configured_engine(tmp_path) as env:
        dialog = await open_dialog(env, qtbot)
        # Kept after closing (qtbot closes it again at the end).
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        editor = dialog.editor("metrics.latency_threshold_ms")
        editor.setValue(250.0)  # type: ignore[attr-defined]
        dialog.save_button.click()
        await wait_signal(dialog.saved)
        assert dialog.status.isVisible() and dialog.status.text().startswith("Saved")

        # The next edit makes "Saved" stale: it goes.
        editor.setValue(300.0)  # type: ignore[attr-defined]
        assert not dialog.status.isVisible()

        # Messages under the fields make the dialog grow, never cut them off.
        before = dialog.height()
        type_into(dialog, "api.port", "99999")
        assert dialog.problems()
        assert dialog.height() >= before
        assert dialog.height() >= dialog.sizeHint().height() or dialog.screen() is None
        type_into(dialog, "api.port", "9100")

        # Close with unsaved edits asks; Cancel keeps the dialog and the edits.
        dialog.close_button.click()
        box = dialog.discard_box
        assert box is not None and box.isVisible() and "unsaved" in box.text()
        box.reject()
        assert dialog.isVisible() and editor.value() == 300.0  # type: ignore[attr-defined]
        dialog.close_button.click()
        assert dialog.discard_box is not None
        action_button(dialog.discard_box).click()
        assert not dialog.isVisible()
        assert env.node.settings.metrics.latency_threshold_ms == 250.0, "nothing saved"

"""The Patch review panel: permissions, keyboard shortcuts, editing, and generating
patches from the panel (long-running, with the panel usable meanwhile)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from app.panels.patches.patch_dialog import EditPatchDialog, ReasonDialog, RequestPatchDialog
from app.widgets.confirm import action_button
from chimera_engine.patches.models import PatchState
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_PASSWORD, wait_signal, wait_until
from tests.patches.gui.helpers import (
    FIX,
    GatedProvider,
    fail_calls,
    make_workspace,
    open_panel,
    panel_on_a_ready_patch,
    patch_env,
    ready_patch,
    show_patch,
    use_provider,
)

pytestmark = pytest.mark.asyncio


async def test_observer_sees_the_actions_disabled_with_the_permission_named(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        patch = await ready_patch(env.node, env.admin.principal)
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        panel = await open_panel(env.bridge, qtbot, user="olga")
        await show_patch(panel, patch)
        bar = panel.action_bar
        for button, permission in (
            (bar.approve_button, "patch.approve"),
            (bar.reject_button, "patch.approve"),
            (bar.edit_button, "patch.generate"),
            (bar.regenerate_button, "patch.generate"),
            (bar.request_button, "patch.generate"),
            (bar.rollback_button, "patch.rollback"),
        ):
            assert not button.isEnabled(), button.objectName()
            assert button.toolTip() == (
                f"Requires the {permission} permission; olga (observer) does not have it"
            )
        # ... and reads everything: the diff, the sandbox results, the history.
        assert panel.detail.sandbox.model.rowCount() == 3
        assert panel.detail.history_model.rowCount() == 3
        panel.table.setFocus()
        qtbot.keyClick(panel.table, Qt.Key.Key_A)
        qtbot.keyClick(panel.table, Qt.Key.Key_R)
        assert panel.dialog is None
        await asyncio.sleep(0.05)
        stored, _ = await env.node.facade.patches.get_patch(env.admin.principal, patch.id)
        assert stored.state is PatchState.READY


async def test_keyboard_shortcuts_navigate_approve_and_reject(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        first = await ready_patch(env.node, env.admin.principal)
        second = await ready_patch(env.node, env.admin.principal)
        panel = await open_panel(env.bridge, qtbot)
        await show_patch(panel, second)  # the newest is on top
        panel.activateWindow()
        panel.table.setFocus()

        def selected() -> int | None:
            patch = panel.selected_patch()
            return patch.id if patch else None

        qtbot.keyClick(panel.table, Qt.Key.Key_J)
        assert selected() == first.id
        qtbot.keyClick(panel.table, Qt.Key.Key_J)
        assert selected() == first.id, "stays on the last one"
        qtbot.keyClick(panel.table, Qt.Key.Key_K)
        assert selected() == second.id
        qtbot.keyClick(panel.table, Qt.Key.Key_N)
        assert selected() == first.id
        qtbot.keyClick(panel.table, Qt.Key.Key_P)
        assert selected() == second.id

        # Not while the focus is elsewhere: a line edit in another window types the letters.
        elsewhere = QLineEdit()
        qtbot.addWidget(elsewhere)
        elsewhere.show()
        qtbot.keyClick(elsewhere, Qt.Key.Key_J)
        assert selected() == second.id and elsewhere.text() == "j"

        # R opens the reject dialog for the selected patch; A approves it.
        await show_patch(panel, second)
        qtbot.keyClick(panel.detail.unified_view, Qt.Key.Key_R)
        dialog = panel.dialog
        assert isinstance(dialog, ReasonDialog) and dialog.objectName() == "rejectPatchDialog"
        assert dialog.windowTitle().startswith(f"Reject patch {second.id}")
        dialog.reject()
        panel.table.setFocus()
        qtbot.keyClick(panel.table, Qt.Key.Key_A)
        assert panel.confirm_box is not None, "A asks before applying code"
        action_button(panel.confirm_box).click()
        action, ok, _ = await wait_signal(panel.actionFinished)
        assert (action, ok) == ("approve", True)
        stored, _ = await env.node.facade.patches.get_patch(env.admin.principal, second.id)
        assert stored.state is PatchState.APPLIED


async def test_edit_is_tested_again_as_a_new_patch(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        panel, patch = await panel_on_a_ready_patch(env, qtbot)
        panel.action_bar.edit_button.click()
        dialog = panel.dialog
        assert isinstance(dialog, EditPatchDialog)
        text = dialog.editor.toPlainText()
        assert (
            "```diff\n--- a/tools/mathy.py" in text and "# file: tests/test_ratio_zero.py" in text
        )
        dialog.submit_button.click()
        assert "change something first" in dialog.error_label.text()

        dialog.editor.setPlainText(
            text.replace("return 0.0", "return float('inf')").replace(
                "== 0.0\n", "== float('inf')\n"
            )
        )
        dialog.submit_button.click()
        action, ok, message = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("edit", True), message
        patches = await env.node.facade.patches.list_patches(env.admin.principal)
        edited = next(p for p in patches if p.id != patch.id)
        assert edited.provider == "operator" and edited.state is PatchState.READY
        assert "float('inf')" in edited.files["tools/mathy.py"]
        assert (
            message
            == f"Your version of patch {patch.id} is patch {edited.id}: it passed the sandbox"
        )
        await show_patch(panel, edited)
        assert panel.model.texts()[0][5] == "edited by admin"


async def test_generating_from_the_panel_shows_progress_and_stays_usable(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        await fail_calls(env.node, env.admin.principal)
        panel = await open_panel(env.bridge, qtbot)
        bar = panel.action_bar
        assert bar.request_button.isEnabled() and not bar.regenerate_button.isEnabled()

        bar.request_button.click()
        await wait_until(lambda: isinstance(panel.dialog, RequestPatchDialog))
        request = panel.dialog
        assert isinstance(request, RequestPatchDialog) and not request.isModal()
        assert request.module() == "mathy"
        request.note_edit.setPlainText("division by zero in ratio")
        provider = GatedProvider([FIX, FIX])
        use_provider(env.node, provider)
        request.submit_button.click()

        # While the model thinks: a progress banner, no second request, a usable panel.
        await asyncio.wait_for(provider.asked.wait(), 5)
        assert panel.banner.isVisible() and "mathy" in panel.banner.label.text()
        assert not bar.request_button.isEnabled()
        assert "being generated" in bar.request_button.toolTip()
        panel.refresh_button.click()
        await wait_signal(panel.loaded)
        provider.gate.set()
        action, ok, text = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("request", True), text
        assert text.startswith("Patch 1 for mathy is ready for review (1 attempt, $0.0100)")
        assert "division by zero in ratio" in provider.requests[0].prompt
        assert not panel.banner.isVisible()
        first = (await env.node.facade.patches.list_patches(env.admin.principal))[0]
        await show_patch(panel, first)

        # Re-generate: the same module, the note prefilled when the patch has a reason.
        assert bar.regenerate_button.isEnabled()
        bar.regenerate_button.click()
        again = panel.dialog
        assert isinstance(again, RequestPatchDialog) and not again.module_combo.isEnabled()
        again.submit_button.click()
        action, ok, text = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("request", True), text
        await wait_until(lambda: panel.model.rowCount() == 2)
        await wait_until(lambda: (panel.selected_patch() or first).id == 2, what="new one selected")

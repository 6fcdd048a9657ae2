"""The Patch review panel against a real engine: keeping some hunks of a patch (re-tested,
the original superseded), and approving through a single-use capability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.panels.patches.detail import HUNKS_TAB
from app.widgets.confirm import action_button
from chimera_engine.errors import AuthenticationError, PermissionDeniedError
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.models import Patch, PatchState
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_PASSWORD, audit_entries, wait_signal, wait_until
from tests.patches.conftest_helpers import (
    TWO_HUNKS,
    ScriptedProvider,
    make_two_tool_workspace,
)
from tests.patches.gui.helpers import (
    fail_calls,
    make_workspace,
    open_panel,
    patch_env,
    ready_patch,
    show_patch,
)

pytestmark = pytest.mark.asyncio


async def test_keeping_one_hunk_from_the_panel(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_two_tool_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        node = env.node
        node.use_provider(ScriptedProvider([TWO_HUNKS]), GenerationPolicy(max_attempts=1))  # type: ignore[arg-type]
        outcome = await node.facade.patches.request_patch(env.admin.principal, "mathy")
        original = outcome.patch
        assert original is not None and original.state is PatchState.REJECTED

        panel = await open_panel(env.bridge, qtbot)
        await show_patch(panel, original)
        panel.detail.tabs.setCurrentIndex(HUNKS_TAB)
        picker = panel.detail.hunks
        await wait_until(lambda: picker.list.count() == 2, what="both hunks listed")
        assert picker.list.item(0).text() == "Hunk 1 · tools/mathy.py · @@ -3,6 +3,8 @@ · +2 −0"
        assert picker.ticked() == [0, 1]
        assert not picker.keep_button.isEnabled(), "every hunk ticked: that is the patch"
        assert "that is the patch itself" in picker.keep_button.toolTip()
        picker.list.setCurrentRow(1)
        assert "+    return x / 3" in picker.view.toPlainText()

        def selected_id() -> int:
            patch = panel.selected_patch()
            return patch.id if patch is not None else 0

        # Hunk 2 alone fixes nothing: refused by the sandbox, the original stays as it was.
        picker.list.item(0).setCheckState(Qt.CheckState.Unchecked)
        picker.keep_button.click()
        action, ok, text = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("hunks", False), text
        assert "refused" in text and f"patch {original.id} stays as it was" in text
        assert panel.status_label.text() == text
        still, _ = await node.facade.patches.get_patch(env.admin.principal, original.id)
        assert still.state is PatchState.REJECTED and still.superseded_by is None

        await wait_until(lambda: selected_id() == original.id + 1, what="the refused one shown")
        await show_patch(panel, still)
        await wait_until(
            lambda: picker.patch is not None and picker.patch.id == original.id,
            what="the original's hunks again",
        )
        picker.set_ticked([0])
        assert picker.summary_label.text() == "1 of 2 hunks ticked"
        assert picker.keep_button.isEnabled()
        picker.keep_button.click()
        action, ok, text = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("hunks", True), text
        assert "passed the sandbox and can be approved" in text

        await wait_until(lambda: selected_id() > original.id + 1, what="the derived patch selected")
        derived = panel.selected_patch()
        assert derived is not None
        await wait_until(
            lambda: panel.detail.patch is not None and panel.detail.patch.id == derived.id,
            what="the derived patch shown",
        )
        shown = panel.detail.patch
        assert shown is not None and shown.state is PatchState.READY
        assert shown.derived_from == original.id
        assert f"hunks of patch {original.id}" in panel.detail.header.text()
        assert "x / 3" not in panel.detail.unified_view.toPlainText()
        row = panel.model.row_of(original.id)
        await wait_until(
            lambda: panel.model.record(row).state is PatchState.SUPERSEDED,
            what="the original superseded in the queue",
        )
        assert panel.model.record(row).superseded_by == derived.id
        assert panel.action_bar.approve_button.isEnabled()
        entries = await audit_entries(node, "patch.hunks")  # newest first
        assert [(e.detail["source_patch"], e.detail["kept"]) for e in entries] == [
            (original.id, [1]),
            (original.id, [2]),
        ]


async def test_approving_spends_a_single_use_capability(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        node = env.node
        await fail_calls(node, env.admin.principal)
        patch = await ready_patch(node, env.admin.principal)

        # Watch the tokens the panel spends (the real facade method does the work).
        spent: list[str] = []
        real = node.facade.patches.approve_with_capability

        async def recording(token: str, patch_id: int) -> Patch:
            spent.append(token)
            return await real(token, patch_id)

        node.facade.patches.approve_with_capability = recording  # type: ignore[method-assign]

        panel = await open_panel(env.bridge, qtbot)
        await show_patch(panel, patch)
        panel.action_bar.approve_button.click()
        assert panel.confirm_box is not None
        action_button(panel.confirm_box).click()
        action, ok, text = await wait_signal(panel.actionFinished, within=30)
        assert (action, ok) == ("approve", True), text

        (token,) = spent
        (issued,) = await audit_entries(node, "capability.issue")
        assert (issued.actor, issued.target) == ("admin", f"patch:{patch.id}")
        jti = issued.detail["jti"]
        assert node.security.revocations.is_revoked(jti), "spent: revoked as used"
        in_force = await node.facade.admin.capabilities_in_force(env.admin.principal)
        assert jti not in {c.jti for c in in_force}
        approvals = [e for e in await audit_entries(node, "patch.approve") if e.outcome == "ok"]
        assert [e.detail.get("capability") for e in approvals] == [jti]

        with pytest.raises(AuthenticationError, match="already used"):
            await real(token, patch.id)


async def test_an_observer_cannot_obtain_an_approval_capability(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        node = env.node
        await fail_calls(node, env.admin.principal)
        patch = await ready_patch(node, env.admin.principal)
        await node.facade.admin.create_user(env.admin.principal, "olga", ADMIN_PASSWORD, "observer")
        panel = await open_panel(env.bridge, qtbot, "olga", ADMIN_PASSWORD)
        await show_patch(panel, patch)
        assert not panel.action_bar.approve_button.isEnabled()
        keep = panel.detail.hunks.keep_button
        assert not keep.isEnabled() and "patch.approve" in keep.toolTip()

        failures: list[Any] = []
        env.bridge.run(env.bridge.patches.approve_patch(patch.id), on_error=failures.append)
        await wait_until(lambda: bool(failures), what="the refusal")
        assert isinstance(failures[0], PermissionDeniedError)
        assert await audit_entries(node, "capability.issue") == []
        assert await node.facade.admin.capabilities_in_force(env.admin.principal) == []
        current, _ = await node.facade.patches.get_patch(env.admin.principal, patch.id)
        assert current.state is PatchState.READY

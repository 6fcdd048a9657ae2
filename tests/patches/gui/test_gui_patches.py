"""The Patch review panel against a real engine, both directions: a patch made engine-side
shows up with its diff and sandbox results; approve, reject and roll back from the panel
change the engine (and its audit log)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.panels.patches.detail import SANDBOX_TAB
from app.panels.patches.patch_dialog import ReasonDialog
from app.panels.patches.rows import QUEUE_COLUMNS
from app.panels.patches.side_by_side_model import ADDED
from app.shared.badges import Badge, BadgeRole
from app.widgets.confirm import action_button
from app.widgets.style import severity_of
from chimera_engine.modules.models import Origin
from chimera_engine.patches.models import PatchState
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, audit_entries, wait_signal, wait_until
from tests.patches.gui.helpers import (
    fail_calls,
    make_workspace,
    open_panel,
    panel_on_a_ready_patch,
    patch_env,
    ready_patch,
    show_patch,
)

pytestmark = pytest.mark.asyncio

COLUMN = {c.title: i for i, c in enumerate(QUEUE_COLUMNS)}


async def test_engine_patch_appears_with_diff_and_sandbox_results(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        panel = await open_panel(env.bridge, qtbot)
        assert panel.model.rowCount() == 0

        # engine -> widget: a patch requested engine-side lands in the queue, live.
        await fail_calls(env.node, env.admin.principal)
        patch = await ready_patch(env.node, env.admin.principal)
        await show_patch(panel, patch)
        row = panel.model.row_of(patch.id)
        cells = panel.model.texts()[row]
        assert cells[COLUMN["Module"]] == "mathy"
        assert cells[COLUMN["Version"]] == "v1"
        assert cells[COLUMN["State"]] == "ready"
        assert cells[COLUMN["Risk"]] == "low"
        assert cells[COLUMN["Provider / model"]] == "scripted · script-1"
        assert cells[COLUMN["Tokens in / out"]] == "100 / 50"
        assert cells[COLUMN["Cost"]] == "$0.0100"
        state_badge = panel.model.index(row, COLUMN["State"]).data(BadgeRole)
        assert isinstance(state_badge, Badge) and state_badge.label == "ready"
        assert panel.model.index(row, COLUMN["Provider / model"]).data(BadgeRole) is None

        # The diff, side by side (aligned, coloured) and unified.
        side = panel.detail.side_by_side
        old, new = (
            side.old_view.toPlainText().splitlines(),
            side.new_view.toPlainText().splitlines(),
        )
        assert len(old) == len(new), "both sides stay aligned"
        added = [i for i, kind in enumerate(side.kinds) if kind == ADDED]
        assert [new[i].strip() for i in added] == ["if b == 0:", "return 0.0"]
        assert all(old[i] == "" for i in added), "filler lines face the added ones"
        assert old[added[-1] + 1] == new[added[-1] + 1] == "    return a / b"
        assert "+    if b == 0:" in panel.detail.unified_view.toPlainText()
        assert "def test_zero_divisor" in panel.detail.tests_view.toPlainText()
        assert panel.detail.rationale_view.toPlainText().startswith("The divisor can be zero")

        # The sandbox: each test by phase, the output of the one selected.
        sandbox = panel.detail.sandbox
        panel.detail.tabs.setCurrentIndex(SANDBOX_TAB)
        results = {(r[0], r[3].split("::")[-1]): r[1] for r in sandbox.model.texts()}
        assert results == {
            ("fail → pass", "test_zero_divisor"): "passed",
            ("pass → pass", "test_ratio"): "passed",
            ("before", "test_zero_divisor"): "failed (expected)",
        }
        assert sandbox.verdict_label.text().startswith("Passed in ")
        assert severity_of(sandbox.verdict_label) == "ok"
        assert not sandbox.violations_label.isVisible()
        before = next(i for i, r in enumerate(sandbox.model.texts()) if r[0] == "before")
        sandbox.select_test(before)
        assert "test_zero_divisor" in sandbox.output_label.text()
        assert "ZeroDivisionError" in sandbox.output_view.toPlainText()

        history = [r[1] for r in panel.detail.history_model.texts()]
        assert history == ["proposed", "testing", "ready"]

        # The state filter hides what is not asked for, and counts each choice.
        panel.filter_combo.setCurrentIndex(panel.filter_combo.findText("Rejected (0)"))
        assert panel.proxy.rowCount() == 0
        panel.filter_combo.setCurrentIndex(panel.filter_combo.findText("Ready for review (1)"))
        assert panel.proxy.rowCount() == 1


async def test_approve_applies_then_roll_back_from_the_panel(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        admin = env.admin.principal
        await fail_calls(env.node, admin)
        patch = await ready_patch(env.node, admin)
        panel = await open_panel(env.bridge, qtbot)
        await show_patch(panel, patch)
        bar = panel.action_bar
        assert bar.approve_button.isEnabled()
        assert not bar.rollback_button.isEnabled()
        assert "only applied or kept patches" in bar.rollback_button.toolTip()

        # widget -> engine: approving applies at once; the new version serves calls.
        bar.approve_button.click()
        assert panel.confirm_box is not None
        action_button(panel.confirm_box).click()
        assert not bar.approve_button.isEnabled(), "no second click while it runs"
        action, ok, text = await wait_signal(panel.actionFinished)
        assert (action, ok) == ("approve", True)
        stored, _ = await env.node.facade.patches.get_patch(admin, patch.id)
        assert stored.state is PatchState.APPLIED and stored.applied_version == 2
        active = env.node.reload.registry.active["mathy"]
        assert (active.version, active.origin) == (2, Origin.PATCH)
        assert await env.node.facade.modules.call_tool(admin, "ratio", {"a": 1, "b": 0}) == 0.0
        assert text == "Patch 1 applied: mathy v2 is active"
        assert severity_of(panel.status_label) == "ok"
        await wait_until(lambda: panel.model.texts()[0][COLUMN["State"]] == "applied")
        assert panel.model.texts()[0][COLUMN["Version"]] == "v1 → v2"
        await wait_until(lambda: bar.rollback_button.isEnabled(), what="roll back offered")
        assert not bar.approve_button.isEnabled()

        # Roll back asks why (non-modal), then the engine restores v1's source as v3.
        bar.rollback_button.click()
        dialog = panel.dialog
        assert isinstance(dialog, ReasonDialog) and dialog.isVisible() and not dialog.isModal()
        dialog.reason_edit.setPlainText("latency doubled")
        dialog.submit_button.click()
        action, ok, text = await wait_signal(panel.actionFinished)
        assert (action, ok, text) == ("rollback", True, "Patch 1 rolled back: latency doubled")
        stored, _ = await env.node.facade.patches.get_patch(admin, patch.id)
        assert stored.state is PatchState.ROLLED_BACK
        assert env.node.reload.registry.active["mathy"].version == 3


async def test_reject_with_a_reason_is_recorded_and_audited(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        panel, patch = await panel_on_a_ready_patch(env, qtbot)

        panel.action_bar.reject_button.click()
        dialog = panel.dialog
        assert isinstance(dialog, ReasonDialog) and not dialog.isModal()
        dialog.submit_button.click()  # no reason: refused here, nothing sent
        assert dialog.error_label.isVisible() and "say why" in dialog.error_label.text()
        assert (await env.node.facade.patches.get_patch(env.admin.principal, patch.id))[
            0
        ].state == "ready"

        dialog.reason_edit.setPlainText("returns 0.0 where the caller needs an error")
        dialog.submit_button.click()
        action, ok, _ = await wait_signal(panel.actionFinished)
        assert (action, ok) == ("reject", True)
        stored, events = await env.node.facade.patches.get_patch(env.admin.principal, patch.id)
        assert stored.state is PatchState.REJECTED
        assert stored.reason == "returns 0.0 where the caller needs an error"
        assert [(e.state, e.actor) for e in events][-1] == ("rejected", ADMIN_NAME)
        rejections = await audit_entries(env.node, "patch.reject")
        assert [(e.actor, e.target, e.detail["reason"]) for e in rejections] == [
            (ADMIN_NAME, f"patch:{patch.id}", "returns 0.0 where the caller needs an error")
        ]
        assert env.node.reload.registry.active["mathy"].version == 1, "nothing applied"

        # ... and the panel shows it: state, reason, history; approving is off now.
        await wait_until(lambda: panel.model.texts()[0][COLUMN["State"]] == "rejected")
        assert panel.model.texts()[0][COLUMN["Reason"]] == stored.reason
        await wait_until(lambda: panel.detail.history_model.rowCount() == 4)
        assert not panel.action_bar.approve_button.isEnabled()
        assert panel.action_bar.edit_button.isEnabled()

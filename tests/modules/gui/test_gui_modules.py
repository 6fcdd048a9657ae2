"""The Module reload panel against a real engine, both directions:
widget -> engine (reload, roll back, refusals) and engine -> widget (watcher, API, calls)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from pytestqt.qtbot import QtBot

from app.panels.modules.reload_log import RESULT
from app.panels.modules.rows import ORIGIN, STATE
from app.widgets.confirm import action_button
from app.widgets.style import severity_of
from chimera_engine.modules.models import Origin
from chimera_engine.security.principal import Principal
from tests.app.conftest import EngineFactory
from tests.app.helpers import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    GREETER_V1,
    audit_entries,
    greeter_source,
    wait_signal,
    wait_until,
)
from tests.modules.gui.helpers import colour, greeter_engine, log_row, open_panel, reload_greeter

pytestmark = pytest.mark.asyncio


async def test_reload_from_panel_creates_a_version(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path) as (ws, env):
        panel = await open_panel(env.bridge, qtbot)
        assert panel.model.modules() == ["greeter"]
        assert panel.model.version_index("greeter", 1).data() == "● v1"

        (ws / "tools" / "greeter.py").write_text(greeter_source("hi"), encoding="utf-8")
        panel.select(panel.model.module_index("greeter"))
        bar = panel.action_bar
        assert bar.reload_button.isEnabled()
        bar.reload_button.click()
        assert not bar.reload_button.isEnabled(), "no second click while it runs"
        action, ok, text = await wait_signal(panel.actionFinished)

        # widget -> engine: a new active version, serving the new code.
        assert (action, ok) == ("reload", True)
        active = env.node.reload.registry.active["greeter"]
        assert (active.version, active.origin) == (2, Origin.MANUAL)
        assert env.admin is not None
        greeting = await env.node.facade.modules.call_tool(
            env.admin.principal, "greet", {"name": "x"}
        )
        assert greeting == "hi x"
        assert text.startswith("Reloaded greeter: v1 → v2 in ")
        assert panel.status_label.text() == text
        assert severity_of(panel.status_label) == "ok"
        reloads = await audit_entries(env.node, "tool.reload")
        assert [(e.actor, e.outcome, e.detail["version"]) for e in reloads[:1]] == [
            (ADMIN_NAME, "ok", 2)
        ]

        # ... and the panel shows it: the new version bold and selected, the old one not.
        await wait_until(lambda: panel.model.active_version("greeter") == 2)
        new = panel.model.version_index("greeter", 2)
        assert new.data() == "● v2"
        assert isinstance(new.data(Qt.ItemDataRole.FontRole), QFont)
        assert new.data(Qt.ItemDataRole.FontRole).bold()
        assert panel.model.version_index("greeter", 1).data() == "   v1"
        assert panel.model.version_index("greeter", 1, STATE).data() == "deprecated"
        await wait_until(lambda: panel.tree.currentIndex() == new, what="v2 selected")
        assert log_row(panel) == ["greeter", "v1 → v2", "manual", "activated"]
        assert panel.log_model.rowCount() == 1
        await wait_until(lambda: panel.detail.source_view.toPlainText() == greeter_source("hi"))
        assert panel.detail.source_key() == ("greeter", 2)


async def test_engine_side_reloads_show_up(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path, watch=True) as (ws, env):
        panel = await open_panel(env.bridge, qtbot)

        # An operator saves the file: the watcher reloads it, the panel follows.
        (ws / "tools" / "greeter.py").write_text(greeter_source("howdy"), encoding="utf-8")
        await wait_until(lambda: panel.model.active_version("greeter") == 2, what="watcher v2")
        assert log_row(panel) == ["greeter", "v1 → v2", "file change", "activated"]
        assert panel.status_label.text().startswith("File change: reloaded greeter: v1 → v2")
        assert panel.model.version_index("greeter", 2, ORIGIN).data() == "file change"

        # Another engine client (here the reload manager itself, as a patch would).
        result = await env.node.reload.reload_module(
            "greeter",
            source=greeter_source("hey"),
            origin=Origin.PATCH,
            principal=Principal.system("test"),
        )
        assert result.ok
        await wait_until(lambda: panel.model.active_version("greeter") == 3, what="patch v3")
        assert log_row(panel) == ["greeter", "v2 → v3", "patch", "activated"]

        # The file disappears: the module keeps serving from memory, and says so.
        (ws / "tools" / "greeter.py").unlink()
        await wait_until(lambda: panel.log_model.row(0).kind == "deleted", what="deletion")
        module_state = panel.model.module_index("greeter", STATE).data()
        assert module_state == "file deleted, serving v3"
        assert severity_of(panel.status_label) == "warn"

        # The operator decides: the buttons appear for the deleted module only.
        bar = panel.action_bar
        panel.select(panel.model.module_index("greeter"))
        assert bar.remove_button.isVisibleTo(panel) and bar.remove_button.isEnabled()
        assert "v3 still serves" in bar.restore_button.toolTip()
        bar.restore_button.click()
        action, ok, text = await wait_signal(panel.actionFinished)
        assert (action, ok) == ("restore", True), text
        assert text == "greeter.py restored from the serving version"
        assert (ws / "tools" / "greeter.py").read_text(encoding="utf-8") == greeter_source("hey")
        await wait_until(lambda: not panel.model.is_file_deleted("greeter"), what="restored")
        assert not bar.remove_button.isVisibleTo(panel)
        assert panel.model.module_index("greeter", STATE).data() == "active v3"


async def test_roll_back_from_panel(engine: EngineFactory, qtbot: QtBot, tmp_path: Path) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        await reload_greeter(env, "yo")
        panel = await open_panel(env.bridge, qtbot)
        assert panel.model.active_version("greeter") == 2

        panel.select(panel.model.module_index("greeter"))
        bar = panel.action_bar
        assert bar.rollback_button.isEnabled()
        assert bar.rollback_button.toolTip() == "Restore the source of v1 as a new version"
        bar.rollback_button.click()
        assert panel.confirm_box is not None
        action_button(panel.confirm_box).click()
        action, ok, text = await wait_signal(panel.actionFinished)

        assert (action, ok) == ("rollback", True)
        assert text.startswith("Rolled back greeter: v2 → v3")
        active = env.node.reload.registry.active["greeter"]
        assert (active.version, active.origin, active.parent) == (3, Origin.ROLLBACK, 1)
        assert active.source == GREETER_V1
        await wait_until(lambda: panel.model.active_version("greeter") == 3)
        assert panel.model.version_index("greeter", 3, ORIGIN).data() == "rollback (from v1)"
        assert log_row(panel) == ["greeter", "v2 → v3", "rollback", "activated"]
        rollbacks = await audit_entries(env.node, "tool.reload")
        assert rollbacks[0].detail["origin"] == "rollback"


async def test_failed_reload_shows_its_reason(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    errors: list[tuple[str, str]] = []
    async with greeter_engine(engine, tmp_path) as (ws, env):
        panel = await open_panel(env.bridge, qtbot)
        env.bridge.errorRaised.connect(lambda title, message: errors.append((title, message)))
        source = ws / "tools" / "greeter.py"
        source.write_text("def broken(:\n    pass\n", encoding="utf-8")
        panel.select(panel.model.module_index("greeter"))
        panel.action_bar.reload_button.click()
        action, ok, text = await wait_signal(panel.actionFinished)

        assert (action, ok) == ("reload", False)
        assert text == "Reload of greeter refused at syntax: SyntaxError: invalid syntax (line 1)"
        assert panel.status_label.text() == text
        assert severity_of(panel.status_label) == "critical"
        assert env.node.reload.registry.active["greeter"].version == 1, "v1 keeps serving"
        await wait_until(lambda: len(panel.model.versions("greeter")) == 2)
        assert log_row(panel) == [
            "greeter",
            "v1 → v2",
            "manual",
            "refused at syntax: SyntaxError: invalid syntax (line 1)",
        ]
        assert colour(panel.log_model.index(0, RESULT).data(Qt.ItemDataRole.ForegroundRole)) == (
            "#b42318"
        )
        failed = panel.model.version_index("greeter", 2, STATE)
        assert failed.data() == "failed"
        assert colour(failed.data(Qt.ItemDataRole.ForegroundRole)) == "#b42318"
        assert "SyntaxError" in failed.data(Qt.ItemDataRole.ToolTipRole)

        # A signature change is refused unless forced.
        source.write_text(greeter_source().replace("name: str", "name: str, x: int"))
        panel.action_bar.reload_button.click()
        _, ok, text = await wait_signal(panel.actionFinished)
        assert not ok
        assert "changed its signature" in text
        panel.select(panel.model.module_index("greeter"))
        panel.action_bar.force_check.setChecked(True)
        panel.action_bar.reload_button.click()
        _, ok, text = await wait_signal(panel.actionFinished)
        assert ok, text
        assert env.node.reload.registry.active["greeter"].version == 4
        assert not panel.action_bar.force_check.isChecked(), "forcing is not sticky"
        assert errors == [], "refusals are shown in the panel, not as dialogs"


async def test_observer_cannot_act(engine: EngineFactory, qtbot: QtBot, tmp_path: Path) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        panel = await open_panel(env.bridge, qtbot, user="olga")
        panel.select(panel.model.version_index("greeter", 1))
        bar = panel.action_bar
        assert not bar.force_check.isEnabled()
        for button in bar.buttons():
            assert not button.isEnabled(), button.objectName()
        assert bar.reload_button.toolTip() == (
            "Requires the tool.reload permission; olga (observer) does not have it"
        )
        for button in (bar.activate_button, bar.rollback_button, bar.deprecate_button):
            assert "tool.activate permission" in button.toolTip()

        # The engine refuses anyway if asked, and the panel says so inline.
        panel.commands.reload("greeter")
        _, ok, text = await wait_signal(panel.actionFinished)
        assert not ok
        assert text == "Could not reload: olga (observer) is not allowed to tool.reload"
        assert severity_of(panel.status_label) == "critical"
        reloads = await audit_entries(env.node, "tool.reload")
        assert [(e.actor, e.outcome) for e in reloads if e.actor == "olga"] == [("olga", "denied")]


async def test_reload_log_reaches_back_before_this_sign_in(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        # Reloaded (by someone, in an earlier session) before this panel was opened.
        await reload_greeter(env, "yo")
        panel = await open_panel(env.bridge, qtbot)
        assert panel.log_model.rowCount() == 1
        assert log_row(panel) == ["greeter", "v1 → v2", "manual", "v2 active"]
        panel.refresh()
        await wait_signal(panel.loaded)
        assert panel.log_model.rowCount() == 1, "seeded once"


async def test_diff_selector_follows_new_versions_and_states(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        panel = await open_panel(env.bridge, qtbot)
        panel.select(panel.model.module_index("greeter"))
        combo = panel.detail.to_combo
        assert [combo.itemText(i) for i in range(combo.count())] == ["v1 (active)"]
        await reload_greeter(env, "yo")
        panel.refresh()
        await wait_signal(panel.loaded)
        texts = [combo.itemText(i) for i in range(combo.count())]
        assert texts[0] == "v2 (active)" and "v1 (active)" not in texts, texts

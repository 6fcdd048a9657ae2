"""Traps an operator fell into: the window growing past the screen, panels brought to the
front without the keyboard focus, destructive actions that did not ask first."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from app.controller import ConsoleController
from app.mainwindow import MainWindow
from app.panels.overview.cards import OverviewCard
from app.panels.overview.view import OverviewPanel
from app.panels.patches.view import PatchesPanel
from app.widgets.confirm import action_button
from chimera_engine.patches.models import Patch, PatchState
from tests.app.conftest import Engine, EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_until
from tests.patches.gui.helpers import fail_calls, make_workspace, patch_env, ready_patch, show_patch

pytestmark = pytest.mark.asyncio
MAX_MIN_WIDTH = 1024
#: A failure signature as the engine writes one for a noisy tool: the message three times.
LONG_SIGNATURE = " | ".join(["ValueError:line_1_col_1_expecting_property_name_enclosed" * 3] * 3)


async def main_window(controller: ConsoleController, qtbot: QtBot) -> MainWindow:
    window = controller.build_main_window()
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    await asyncio.sleep(0.2)
    return window


async def window_with_a_patch(env: Engine, qtbot: QtBot) -> tuple[MainWindow, Patch]:
    """Failing calls and a patch ready for review, then the admin signed in to the window."""
    assert env.admin is not None
    await fail_calls(env.node, env.admin.principal)
    patch = await ready_patch(env.node, env.admin.principal)
    await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
    return await main_window(ConsoleController(env.bridge), qtbot), patch


def patches_of(window: MainWindow) -> PatchesPanel:
    panel = window.panel("Patches")
    assert isinstance(panel, PatchesPanel)
    return panel


def focus_inside(widget: QWidget) -> bool:
    """The window's focus widget is ``widget`` or inside it (it has the keyboard focus
    whenever the window is active; offscreen, a closed message box leaves no window active)."""
    focused = widget.window().focusWidget()
    return focused is not None and (focused is widget or widget.isAncestorOf(focused))


async def test_minimum_width_stays_within_1024_px(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        window, patch = await window_with_a_patch(env, qtbot)
        for name in window.panel_names():
            window.show_panel(name)
            await asyncio.sleep(0.1)
            assert window.minimumSizeHint().width() <= MAX_MIN_WIDTH, name
        # Every Overview card with a long summary and an action (a busy incident: many
        # failed attempts, incidents and agents at once) still fits.
        window.show_panel("Overview")
        for card in window.findChildren(OverviewCard):
            card.summary_label.setText(" · ".join(["12 failed generation attempts (24 h)"] * 3))
            card.set_action("Close all", "", True)
        await asyncio.sleep(0.05)
        assert window.minimumSizeHint().width() <= MAX_MIN_WIDTH, "Overview cards"
        panel = patches_of(window)
        window.show_panel("Patches")
        await show_patch(panel, patch)
        # The engine's signature of a noisy failure is one long line without spaces.
        noisy = dataclasses.replace(
            patch, id=patch.id + 1000, signature=LONG_SIGNATURE, reason=LONG_SIGNATURE
        )
        for shown in (patch, noisy):
            panel.detail.show_patch(shown, [])
            for tab in range(panel.detail.tabs.count()):
                panel.detail.tabs.setCurrentIndex(tab)
                await asyncio.sleep(0.05)
                width = window.minimumSizeHint().width()
                assert width <= MAX_MIN_WIDTH, (panel.detail.tabs.tabText(tab), width)
        assert LONG_SIGNATURE in panel.detail.facts_label.text(), "wrapped, not cut"
        window.resize(MAX_MIN_WIDTH, 700)
        await asyncio.sleep(0.05)
        assert window.width() <= MAX_MIN_WIDTH
        # ... and at that width no button's label is cut.
        for name in window.panel_names():
            window.show_panel(name)
            await asyncio.sleep(0.05)
            for button in window.panel(name).findChildren(QPushButton):
                if button.isVisible() and button.text():
                    text = button.text().replace("&", "")
                    needed = button.fontMetrics().horizontalAdvance(text)
                    assert button.width() >= needed, (name, text, button.width(), needed)
        window.show_panel("Patches")

        # Every dialog the window and the panels open fits a 1024 px screen too.
        dialogs: list[QDialog] = []
        for opener in (
            window.open_settings,
            window.desktop.shortcuts_action.trigger,
            lambda: panel.dialogs.open("reject", patch),
            lambda: panel.dialogs.open("request", None),
        ):
            opener()
            await asyncio.sleep(0.2)
            dialogs = [d for d in window.findChildren(QDialog) if d.isVisible()]
            assert dialogs, opener
            for dialog in dialogs:
                hint = dialog.minimumSizeHint().width()
                assert hint <= MAX_MIN_WIDTH, (dialog.objectName(), hint)
                dialog.close()
            assert window.minimumSizeHint().width() <= MAX_MIN_WIDTH


async def test_each_way_to_a_panel_gives_it_the_focus(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        window, first = await window_with_a_patch(env, qtbot)
        panel = patches_of(window)
        overview = window.panel("Overview")
        assert isinstance(overview, OverviewPanel)

        # Alt+N (View > Go to panel) and Ctrl+PgDown.
        window.desktop.go_actions["Patches"].trigger()
        await wait_until(lambda: focus_inside(panel), what="focus after Alt+N")
        for name in window.panel_names():
            window.desktop.go_actions[name].trigger()
            await wait_until(
                lambda name=name: focus_inside(window.panel(name)), what=f"focus in {name}"
            )

        # A click on an Overview card's item (the patch waiting for review).
        window.show_panel("Overview")
        card = overview.cards["patches"]
        await wait_until(lambda: bool(card.texts()), what="the patch listed on the Overview")
        card.click(0)
        await wait_until(lambda: focus_inside(panel), what="focus after an Overview card click")
        await wait_until(lambda: panel.selected_patch() is not None, what="selected")
        selected = panel.selected_patch()
        assert selected is not None and selected.id == first.id

        # J/K/A work at once: A asks before applying.
        focused = window.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, Qt.Key.Key_A)
        assert panel.confirm_box is not None and panel.confirm_box.isVisible()
        panel.confirm_box.reject()

        # The banner's Show opens the patch it names, even one the queue has not read yet.
        window.show_panel("Overview")
        second = await ready_patch(env.node, env.admin.principal)
        await wait_until(lambda: overview.notice.isVisible(), what="the banner", within=10)
        assert f"Patch {second.id}" in overview.notice_label.text()
        overview.notice_open.click()
        await wait_until(lambda: focus_inside(panel), what="focus after the banner's Show")
        await wait_until(
            lambda: (p := panel.selected_patch()) is not None and p.id == second.id,
            what=f"patch {second.id} selected",
        )


async def test_destructive_actions_ask_first(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        window, patch = await window_with_a_patch(env, qtbot)
        quits: list[bool] = []
        window.quitRequested.connect(lambda: quits.append(True))

        # Approve (button and A): cancelling leaves the patch waiting.
        panel = patches_of(window)
        window.show_panel("Patches")
        await show_patch(panel, patch)
        panel.action_bar.approve_button.click()
        box = panel.confirm_box
        assert box is not None and box.isVisible()
        assert f"patch {patch.id}" in box.text() and "mathy" in box.text()
        box.reject()
        await asyncio.sleep(0.1)
        stored: Patch = (await env.node.facade.patches.get_patch(env.admin.principal, patch.id))[0]
        assert stored.state is PatchState.READY

        # Modules: Activate and Roll back ask; cancelling changes nothing.
        modules = window.panel("Modules")
        active = env.node.reload.registry.active["mathy"].version
        for ask in (
            lambda: modules.confirm_activate("mathy", active),  # type: ignore[attr-defined]
            lambda: modules.confirm_rollback("mathy"),  # type: ignore[attr-defined]
        ):
            box = ask()
            assert box.isVisible() and "mathy" in box.text()
            box.reject()
        assert env.node.reload.registry.active["mathy"].version == active

        # Quit (Ctrl+Q, the close button): asks; cancelling keeps the window and engine.
        window.quit_action.trigger()
        assert window.quit_box is not None and window.quit_box.isVisible()
        window.quit_box.reject()
        await asyncio.sleep(0.05)
        assert window.isVisible() and quits == []
        window.close()
        assert window.isVisible() and window.quit_box.isVisible()
        action_button(window.quit_box).click()
        await asyncio.sleep(0.05)
        assert quits == [True]


async def test_status_bar_floated_panel_and_observer_wording(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine(CHIMERA_DEMO__ENABLED="true", CHIMERA_DEMO__START_DELAY="0.1") as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        controller = ConsoleController(env.bridge)
        window = await main_window(controller, qtbot)
        api = env.node.api
        assert api is not None and window.api_indicator.text() == f"API :{api.port}"
        menu = controller.demo_menu
        assert menu is not None
        await wait_until(lambda: menu.indicator.isVisible(), what="the demo's state")
        assert menu.indicator.text() == "Demo running"
        await env.node.facade.demo.pause(env.bridge.principal)
        menu.refresh(quiet=True)
        await wait_until(lambda: menu.indicator.text() == "Demo paused", what="paused")

        window.show_panel("Swarm")
        dock = window.dock("Swarm")
        dock.setFloating(True)
        await asyncio.sleep(0.1)
        assert dock.width() >= 800 and dock.height() >= 500, dock.size()
        dock.setFloating(False)

        # An observer is told a patch waits for review, not that it waits for *them*.
        overview = window.panel("Overview")
        assert isinstance(overview, OverviewPanel)
        notes: list[str] = []
        overview.notifier.notified.connect(lambda _t, message, _target: notes.append(message))
        await env.node.facade.admin.create_user(
            env.bridge.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        await env.bridge.login("olga", ADMIN_PASSWORD)
        env.bridge.patchChanged.emit(41, "mathy", "ready", "")
        overview.notifier.flush()
        assert notes and notes[-1].endswith("waits for review by an operator")


async def test_dialog_texts_are_not_clipped(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QFormLayout, QLabel

    from app.panels.patches.patch_dialog import RequestPatchDialog
    from app.panels.swarm.submit_dialog import SubmitTaskDialog
    from tests.app.helpers import make_workspace as tools_workspace
    from tests.app.helpers import workspace_env

    async with engine(**workspace_env(tools_workspace(tmp_path / "tools"))) as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        request = RequestPatchDialog(["clean_csv", "log_parser"])
        qtbot.addWidget(request)
        request.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        request.show()
        await asyncio.sleep(0.05)
        form = request.findChild(QFormLayout)
        assert form is not None
        item = form.itemAt(1, QFormLayout.ItemRole.LabelRole)
        note = item.widget() if item is not None else None
        assert isinstance(note, QLabel) and note.text() == "Note"
        # Level with the text box's first line, not floating in a tall empty row.
        assert note.height() <= 3 * note.fontMetrics().height()
        assert abs(note.geometry().top() - request.note_edit.geometry().top()) <= 8

        tools = await env.node.facade.modules.list_tools(env.bridge.principal)
        assert tools
        submit = SubmitTaskDialog(env.bridge, tools)
        qtbot.addWidget(submit)
        submit.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        submit.show()
        await asyncio.sleep(0.05)
        label = submit.signature_label
        assert label.text() and label.height() >= label.heightForWidth(label.width())

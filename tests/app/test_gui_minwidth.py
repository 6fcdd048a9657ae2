"""The main window never needs more than 1024 px of width: with every panel, every tab of
the patch detail, a patch with a long failure signature shown, and each dialog open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.controller import ConsoleController
from app.views.patches import PatchesPanel
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD
from tests.app.patches_helpers import fail_calls, make_workspace, patch_env, ready_patch, show_patch

pytestmark = pytest.mark.asyncio
MAX_MIN_WIDTH = 1024


def widest(
    widget: QWidget, depth: int = 0, out: list[tuple[int, str]] | None = None
) -> list[tuple[int, str]]:
    out = [] if out is None else out
    hint = widget.minimumSizeHint().width()
    out.append((hint, "  " * depth + f"{type(widget).__name__}#{widget.objectName()}"))
    for child in widget.findChildren(QWidget):
        if child.parentWidget() is widget:
            widest(child, depth + 1, out)
    return out


async def test_min_width(engine: EngineFactory, qtbot: QtBot, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        await fail_calls(env.node, env.admin.principal)
        patch = await ready_patch(env.node, env.admin.principal)
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        controller = ConsoleController(env.bridge)
        window = controller.build_main_window()
        qtbot.addWidget(window)
        window.show()
        await asyncio.sleep(0.3)
        print("initial", window.minimumSizeHint().width(), window.minimumWidth())
        for name in window.panel_names():
            window.show_panel(name)
            await asyncio.sleep(0.2)
            print(name, window.minimumSizeHint().width())
        window.show_panel("Patches")
        panel = window.panel("Patches")
        assert isinstance(panel, PatchesPanel)
        await show_patch(panel, patch)
        for i in range(panel.detail.tabs.count()):
            panel.detail.tabs.setCurrentIndex(i)
            await asyncio.sleep(0.1)
            print("tab", i, window.minimumSizeHint().width())
        rows = widest(window)
        for w, name in rows:
            if w > 600:
                print(w, name)
        assert False

"""The Module reload panel's source and diff views, deprecation, and live call counts."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QFont
from pytestqt.qtbot import QtBot

from app.calls import CallSummary
from app.panels.modules.detail import DIFF_TAB, SOURCE_TAB
from app.panels.modules.rows import STATE
from app.widgets.code_view import formats_at
from chimera_engine.runtime import ToolCallError
from tests.app.conftest import EngineFactory
from tests.app.helpers import (
    GREETER_V1,
    wait_signal,
    wait_until,
)
from tests.modules.gui.helpers import greeter_engine, log_row, open_panel, reload_greeter

pytestmark = pytest.mark.asyncio


async def test_source_diff_and_deprecate(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        assert env.admin is not None
        await reload_greeter(env, "hi")
        panel = await open_panel(env.bridge, qtbot)

        panel.select_version("greeter", 1)
        module, version = await wait_signal(panel.detail.sourceShown)
        assert (module, version) == ("greeter", 1)
        assert panel.detail.currentIndex() == SOURCE_TAB
        assert panel.detail.source_view.toPlainText() == GREETER_V1
        assert panel.detail.source_view.isReadOnly()
        keyword = panel.detail.highlighter.keyword_format.foreground().color().name()
        line = GREETER_V1.splitlines().index("def greet(name: str) -> str:")
        formats = formats_at(panel.detail.highlighter, line)
        colours = [f.foreground().color().name() for f in formats]
        assert keyword in colours

        # Two versions selected: their diff.
        selection = panel.tree.selectionModel()
        selection.select(
            panel.model.version_index("greeter", 2),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
        assert panel.detail.currentIndex() == DIFF_TAB
        await wait_until(lambda: panel.detail.diff_key() == ("greeter", 1, 2))
        if "+" not in panel.detail.diff_view.toPlainText():
            await wait_signal(panel.detail.diffShown)
        diff = panel.detail.diff_view.toPlainText()
        assert '-    return f"hello {name}"' in diff
        assert '+    return f"hi {name}"' in diff
        assert panel.detail.diff_header.text() == "v1 → v2:  +1  −1 lines"
        added = diff.splitlines().index('+    return f"hi {name}"')
        backgrounds = [
            f.background().color().name() for f in formats_at(panel.detail.diff_highlighter, added)
        ]
        assert backgrounds == ["#e7f8ee"]

        # v1 was deprecated once it drained; reinstate it, then deprecate it from the
        # panel: grey and italic.
        assert env.node.reload.registry.get("greeter", 1).state.value == "deprecated"
        await env.node.facade.modules.set_version_state(
            env.admin.principal, "greeter", 1, "inactive"
        )
        await wait_until(
            lambda: panel.model.version_index("greeter", 1, STATE).data() == "inactive"
        )
        panel.select_version("greeter", 1)
        assert panel.action_bar.deprecate_button.isEnabled()
        panel.action_bar.deprecate_button.click()
        action, ok, _ = await wait_signal(panel.actionFinished)
        assert (action, ok) == ("deprecated", True)
        assert env.node.reload.registry.get("greeter", 1).state.value == "deprecated"
        await wait_until(
            lambda: panel.model.version_index("greeter", 1, STATE).data() == "deprecated"
        )
        font = panel.model.version_index("greeter", 1).data(Qt.ItemDataRole.FontRole)
        assert isinstance(font, QFont)
        assert font.italic()
        assert log_row(panel)[3] == "deprecated"


async def test_live_call_counts_are_throttled(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with greeter_engine(engine, tmp_path) as (_, env):
        panel = await open_panel(env.bridge, qtbot)
        assert env.admin is not None
        admin = env.admin.principal
        loop = asyncio.get_running_loop()
        summaries: list[tuple[float, CallSummary]] = []
        env.bridge.callSummary.connect(lambda s: summaries.append((loop.time(), s)))

        started = loop.time()
        runtime = env.node.runtime
        for _ in range(6):
            await asyncio.gather(*(runtime.call("greet", {"name": "x"}, admin) for _ in range(50)))
            await asyncio.sleep(0.05)
        with pytest.raises(ToolCallError):
            await runtime.call("shout", {"text": "x", "fail": True}, admin)
        await wait_until(lambda: sum(s.calls for _, s in summaries) == 301, what="all calls")
        elapsed = loop.time() - started

        assert len(summaries) <= 1 + elapsed / 0.25 + 0.5, "at most ~4 summaries per second"
        assert len(summaries) < 301 / 10, "far fewer signals than calls"
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(summaries)]
        assert all(gap >= 0.2 for gap in gaps), gaps
        assert sum(s.errors for _, s in summaries) == 1
        assert {key for _, s in summaries for key in s.counts} == {("greeter", 1)}
        await wait_until(lambda: panel.model.counts("greeter", 1).calls == 301)
        index = panel.model.version_index("greeter", 1)
        assert index.siblingAtColumn(2).data() == "301"
        assert index.siblingAtColumn(3).data() == "0.3 %"

        # A refresh replaces the live counts by the engine's totals: nothing double-counted.
        panel.refresh()
        await wait_signal(panel.loaded)
        assert panel.model.counts("greeter", 1).calls == 301
        assert env.node.reload.registry.get("greeter", 1).calls == 301

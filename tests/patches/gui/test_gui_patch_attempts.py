"""Failed generation attempts in the console: the Patches panel's Attempts tab lists them
(filterable) with their reasons, tokens (or "unknown"), prompt and answer; a patch says
why it was requested; the Overview counts the failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.panels.patches.attempts_model import ATTEMPT_COLUMNS
from app.shared import overview as ov
from chimera_engine.events import PatchProgress
from chimera_engine.patches.providers.base import ProviderUnavailable
from tests.app.conftest import EngineFactory
from tests.app.helpers import wait_until
from tests.patches.gui.helpers import (
    FIX,
    ScriptedProvider,
    fail_calls,
    make_workspace,
    open_panel,
    patch_env,
    show_patch,
    use_provider,
)

pytestmark = pytest.mark.asyncio

COLUMN = {c.title: i for i, c in enumerate(ATTEMPT_COLUMNS)}


async def test_failed_attempts_are_listed_with_reasons_and_counted(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        who = env.admin.principal
        panel = await open_panel(env.bridge, qtbot)
        assert panel.tabs.tabText(1) == "Attempts"
        await fail_calls(env.node, who)
        use_provider(env.node, ScriptedProvider(["I would add a check.", FIX]))
        outcome = await env.node.facade.patches.request_patch(who, "mathy", note="division errors")
        assert outcome.patch is not None
        use_provider(env.node, ScriptedProvider([ProviderUnavailable("the server is down")]))
        failed = await env.node.facade.patches.request_patch(who, "mathy")
        assert failed.patch is None

        # engine -> widget: the attempts arrive as they are recorded
        view = panel.attempts
        await wait_until(lambda: view.model.rowCount() == 2, what="two failed attempts listed")
        assert panel.tabs.tabText(1) == "Attempts (2 failed)"
        rows = view.model.texts()
        assert [r[COLUMN["Verdict"]] for r in rows] == ["server error", "unusable answer"]
        assert "the server is down" in rows[0][COLUMN["Reason"]]
        assert rows[1][COLUMN["Reason"]].startswith("the answer contains no patch")
        assert rows[1][COLUMN["Tokens in / out"]] == "100 / 50"
        assert rows[0][COLUMN["Tokens in / out"]] == "unknown"  # nothing came back
        assert rows[1][COLUMN["Requested because"]].startswith("requested by admin")

        # the detail: why, the answer and the prompt
        view.table.selectRow(1)
        facts = view.facts_view.toPlainText()
        assert "Requested because" in facts and "ZeroDivisionError" in facts
        assert view.answer_view.toPlainText() == "I would add a check."
        assert "tools/mathy.py" in view.prompt_view.toPlainText()

        # the filter: all attempts shows the one that passed too
        view.filter_combo.setCurrentIndex(1)
        assert view.model.rowCount() == 3
        assert "passed" in [r[COLUMN["Verdict"]] for r in view.model.texts()]
        view.filter_combo.setCurrentIndex(5)  # server errors (and not-the-API) only
        assert [r[COLUMN["Verdict"]] for r in view.model.texts()] == ["server error"]

        # the queue: a patch says why it was requested
        await show_patch(panel, outcome.patch)
        await wait_until(lambda: panel.why_label.text() != "", what="why shown")
        assert panel.why_label.text().startswith("Requested because: requested by admin")
        assert "error_rate" in panel.why_label.text()

        # the Overview counts the failed attempts
        overview = await env.bridge.overview.read()
        section = overview.sections[ov.PATCHES]
        assert "2 failed generation attempts (24 h)" in section.summary
        assert any(item.key == "attempts" for item in section.items)
        panel.show_attempts()
        assert panel.tabs.currentWidget() is view


async def test_streamed_progress_shows_in_the_banner(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        panel = await open_panel(env.bridge, qtbot)
        panel.banner.begin("mathy")
        env.node.bus.publish(
            PatchProgress(module="mathy", attempt=2, chars=4100, pieces=1234, elapsed_s=7.0)
        )
        await wait_until(lambda: "1,234 tokens so far" in panel.banner.label.text(), what="tokens")
        assert "attempt 2" in panel.banner.label.text()
        env.node.bus.publish(
            PatchProgress(module="other", attempt=1, chars=10, pieces=3, elapsed_s=1.0)
        )
        await asyncio.sleep(0.2)
        assert "1,234 tokens so far" in panel.banner.label.text()  # another module's is not shown
        panel.banner.end()

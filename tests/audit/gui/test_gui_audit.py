"""The Audit panel and its model: engine -> widget (live rows) and widget -> engine (verify)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from pytestqt.qtbot import QtBot

from app.panels.audit.model import (
    ACTOR,
    COLUMNS,
    DETAIL,
    OUTCOME,
    SEQ,
    TIME,
    AuditFilterProxy,
    AuditTableModel,
)
from app.panels.audit.view import AuditPanel
from app.widgets.style import severity_of
from chimera_engine.store.records import AuditEntry
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_signal


def entry(seq: int, outcome: str = "ok", **detail: object) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        ts=1_700_000_000.0 + seq,
        actor=f"user{seq}",
        role="operator",
        action="tool.call",
        target=f"tool{seq}",
        outcome=outcome,
        detail=dict(detail),
    )


def column(model: AuditTableModel | AuditFilterProxy, col: int) -> list[str]:
    return [model.index(row, col).data() for row in range(model.rowCount())]


def test_audit_model_inserts_live_rows_at_top_and_caps_them(qtbot: QtBot) -> None:
    model = AuditTableModel(max_rows=5)
    resets: list[None] = []
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(None))
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))

    model.load([entry(2), entry(1), entry(3)])
    assert column(model, SEQ) == ["3", "2", "1"]
    assert len(resets) == 1

    assert model.add([entry(4), entry(5)]) == 2
    assert inserted == [(0, 1)], "two new rows inserted at the top in one batch"
    assert column(model, SEQ) == ["5", "4", "3", "2", "1"]

    assert model.add([entry(5)]) == 0, "an entry already shown is ignored"
    assert model.add([entry(6), entry(7)]) == 2
    assert column(model, SEQ) == ["7", "6", "5", "4", "3"], "capped at max_rows"
    assert removed == [(5, 6)], "the oldest rows were removed from the bottom"
    assert len(resets) == 1, "live updates never reset the model"

    model.load([entry(2), entry(8)])  # a reload merges with what is shown
    assert column(model, SEQ) == ["8", "7", "6", "5", "4"]


def test_audit_model_columns_time_detail_and_tints(qtbot: QtBot) -> None:
    model = AuditTableModel()
    model.load([entry(1, "ok", b=2, a="x"), entry(2, "denied"), entry(3, "error")])
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == [
        "#", "Time", "Actor", "Role", "Action", "Target", "Outcome", "Detail",
    ]  # fmt: skip
    ok_row = 2
    expected_time = datetime.fromtimestamp(1_700_000_001.0).strftime("%Y-%m-%d %H:%M:%S")
    assert model.index(ok_row, TIME).data() == expected_time
    assert model.index(ok_row, DETAIL).data() == '{"a":"x","b":2}'
    assert json.loads(model.index(ok_row, DETAIL).data(Qt.ItemDataRole.ToolTipRole)) == {
        "a": "x",
        "b": 2,
    }

    def tint(row: int) -> str | None:
        brush = model.index(row, OUTCOME).data(Qt.ItemDataRole.BackgroundRole)
        return brush.color().name() if isinstance(brush, QBrush) else None

    assert (tint(0), tint(1), tint(ok_row)) == ("#fff0c7", "#fde4e2", None)


def test_audit_proxy_filters_by_text_and_outcome(qtbot: QtBot) -> None:
    model = AuditTableModel()
    model.load([entry(1), entry(2, "denied", reason="role observer lacks audit.verify")])
    model.load([entry(3, "error"), entry(4, "denied")])
    proxy = AuditFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(SEQ, Qt.SortOrder.DescendingOrder)

    proxy.set_outcome("denied")
    assert column(proxy, SEQ) == ["4", "2"]
    proxy.set_text("OBSERVER")  # case-insensitive, any column including the detail
    assert column(proxy, SEQ) == ["2"]
    proxy.set_outcome("")
    proxy.set_text("tool3")
    assert column(proxy, SEQ) == ["3"]
    proxy.set_text("")
    assert column(proxy, SEQ) == ["4", "3", "2", "1"]
    with pytest.raises(ValueError, match="unknown outcome"):
        proxy.set_outcome("maybe")


@pytest.mark.asyncio
async def test_audit_panel_live_updates(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        panel = AuditPanel(env.bridge)
        qtbot.addWidget(panel)
        panel.system_check.setChecked(False)  # every actor, the engine's own too
        panel.resize(1000, 500)
        panel.show()
        (rows,) = await wait_signal(panel.loaded)
        stored = await audit_entries(env.node)
        assert rows == len(stored) == panel.model.rowCount()
        assert column(panel.model, SEQ) == [str(e.seq) for e in stored]
        assert panel.row_count_label.text() == f"{rows} entries"

        # engine -> widget: an entry recorded by the engine appears as a new top row.
        resets: list[None] = []
        panel.model.modelReset.connect(lambda: resets.append(None))
        recorded = await env.node.security.audit.record(
            None, "tool.call", target="etl.load", outcome="denied", actor="mallory", why="test"
        )
        _, first, last = await wait_signal(panel.model.rowsInserted)
        assert (first, last) == (0, 0)
        assert resets == [], "a live row is inserted, not a model reset"
        assert panel.model.rowCount() == rows + 1
        top = panel.proxy.index(0, 0)
        assert top.data() == str(recorded.seq)
        assert [panel.proxy.index(0, c).data() for c in (2, 4, 5, 6, 7)] == [
            "mallory", "tool.call", "etl.load", "denied", '{"why":"test"}',
        ]  # fmt: skip
        tint = panel.proxy.index(0, OUTCOME).data(Qt.ItemDataRole.BackgroundRole)
        assert isinstance(tint, QBrush)
        assert tint.color().name() == "#fde4e2"
        assert panel.row_count_label.text() == f"{rows + 1} entries"

        panel.filter_edit.setText("mallory")
        assert panel.proxy.rowCount() == 1
        assert panel.row_count_label.text() == f"1 of {rows + 1} entries shown"
        panel.filter_edit.clear()
        panel.outcome_combo.setCurrentIndex(panel.outcome_combo.findData("denied"))
        assert column(panel.proxy, SEQ) == [str(recorded.seq)]
        panel.outcome_combo.setCurrentIndex(0)

        # widget -> engine: Verify asks the engine to check the chain.
        panel.verify_button.click()
        assert not panel.verify_button.isEnabled()
        (result,) = await wait_signal(panel.verified)
        assert result.ok
        assert result.checked == rows + 1
        assert "intact" in panel.verify_label.text()
        assert panel.verify_label.text() == result.summary()
        assert severity_of(panel.verify_label) == "ok"
        assert panel.verify_button.isEnabled()
        verifications = await audit_entries(env.node, "audit.verify")
        assert [(e.actor, e.detail["checked"]) for e in verifications] == [(ADMIN_NAME, rows + 1)]
        # ... and the engine's own record of the verification arrives live as well.
        if panel.model.top_seq() != verifications[0].seq:
            await wait_signal(panel.model.rowsInserted)
        assert panel.proxy.index(0, 4).data() == "audit.verify"


@pytest.mark.asyncio
async def test_audit_panel_verify_refused_for_observer(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        await env.bridge.login("olga", ADMIN_PASSWORD)
        panel = AuditPanel(env.bridge)
        qtbot.addWidget(panel)
        await wait_signal(panel.loaded)
        errors: list[tuple[str, str]] = []
        env.bridge.errorRaised.connect(lambda title, message: errors.append((title, message)))

        panel.verify_button.click()
        assert await wait_signal(env.bridge.busyChanged) == (False,)
        assert panel.verify_label.text() == (
            "Verification failed: olga (observer) is not allowed to audit.verify"
        )
        assert severity_of(panel.verify_label) == "critical"
        assert errors == [], "an expected refusal is shown inline, not as a dialog"
        denied = await audit_entries(env.node, "audit.verify")
        assert [(e.actor, e.outcome) for e in denied] == [("olga", "denied")]


async def test_system_actors_hidden_by_default_and_an_entry_in_full(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        for i in range(5):  # what the demo workload does all day
            await env.node.security.audit.record(
                None, "swarm.task.submit", target=f"task-{i}", actor="system:demo"
            )
        panel = AuditPanel(env.bridge)
        qtbot.addWidget(panel)
        panel.resize(1000, 600)
        panel.show()
        (rows,) = await wait_signal(panel.loaded)
        actors = [panel.proxy.index(r, ACTOR).data() for r in range(panel.proxy.rowCount())]
        assert actors and not any(a.startswith("system:") for a in actors)
        assert panel.proxy.rowCount() <= rows - 5
        panel.system_check.setChecked(False)
        assert panel.proxy.rowCount() == rows

        panel.table.selectRow(0)
        text = panel.detail_view.toPlainText()
        entry = panel.model.entry(0)
        assert f"#{entry.seq}" in text and f"Action:  {entry.action}" in text
        assert entry.hash in text

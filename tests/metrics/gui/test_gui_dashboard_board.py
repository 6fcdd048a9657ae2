"""The Dashboard read as an operator reads a Grafana board: titles that name the tool,
six charts at 1280x800, ratios on their own scale, forecasts that start at the last
sample, the charts of a tool in trouble first and brought into view from its alert, the
wheel scrolling the grid, and a list that does not move under the pointer."""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.panels.metrics.anomalies_model import AnomalyRecord
from app.panels.metrics.chart import short_title
from app.panels.metrics.render import anchored
from app.panels.metrics.view import DashboardPanel
from chimera_engine.anomaly.forecast import Forecast
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_signal, wait_until

pytestmark = pytest.mark.asyncio
TOOLS = ("alpha", "bravo", "clean_csv")


async def board(engine_env: object, qtbot: QtBot, **kwargs: int) -> DashboardPanel:
    bridge = engine_env.bridge  # type: ignore[attr-defined]
    await bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
    panel = DashboardPanel(bridge, **kwargs)
    qtbot.addWidget(panel)
    panel.resize(1280, 720)  # the panel's share of a 1280x800 window
    panel.show()
    await wait_signal(panel.anomaliesLoaded)
    return panel


def record_tools(env: object, seconds: int = 120) -> None:
    hub = env.node.hub  # type: ignore[attr-defined]
    now = time.time()
    for tool in TOOLS:
        for i in range(seconds):
            t = now - seconds + i
            hub.record("tool.latency_ms", 20.0 + (i % 5), {"tool": tool}, t)
            hub.record("tool.error_rate", 0.0, {"tool": tool}, t)
            hub.record("tool.confidence", 1.0, {"tool": tool}, t)


async def test_board_reads_like_grafana(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        record_tools(env)
        panel = await board(env, qtbot, max_default_charts=9)
        panel.refresh_metrics()
        await wait_until(lambda: panel.pending_charts() == 0 and len(panel.chart_keys()) == 9)
        await asyncio.sleep(0.3)

        # Six or more charts wholly on screen at 1280x800, titles naming the tool first.
        grid = panel.grid
        whole = [
            c for c in grid.charts() if c.visibleRegion().boundingRect().height() == c.height()
        ]
        assert len(whole) >= 6, (grid.columns(), grid.chart_height(), grid.viewport().size())
        assert short_title("tool.latency_ms{tool=alpha}") == "alpha · latency_ms"
        title = whole[0].title_label
        assert title.fontMetrics().horizontalAdvance(title.text()) <= title.width()

        # A ratio's axis is 0..1, never negative, even for a flat zero series.
        panel.redraw(everything=True)
        state = panel.renderer.state("tool.error_rate{tool=alpha}")
        assert state is not None and state.y_range == (0.0, 1.0)

        # The wheel over a (live) chart scrolls the grid.
        bar = grid.verticalScrollBar()
        assert bar.maximum() > 0
        chart = grid.charts()[0]
        viewport = chart.plot.viewport()
        pos = QPointF(viewport.rect().center())
        wheel = QWheelEvent(
            pos,
            QPointF(viewport.mapToGlobal(pos.toPoint())),
            QPoint(0, 0),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewport, wheel)
        assert bar.value() > 0

        # An incident on clean_csv: its charts move first, its alert brings its chart into
        # view, and new alerts do not move the selected row.
        bar.setValue(bar.maximum())
        key = "tool.confidence{tool=clean_csv}"
        record = AnomalyRecord(
            id=1, metric=key, t=time.time(), value=0.2, expected=1.0, score=0.9, kind="drop"
        )
        older = [
            AnomalyRecord(
                id=100 + i,
                metric="tool.latency_ms{tool=alpha}",
                t=time.time() - 600 + i,
                value=90.0,
                expected=20.0,
                score=0.7,
                kind="spike",
                acknowledged_by="admin",
            )
            for i in range(30)
        ]
        panel.anomaly_model.merge([*older, record])
        panel.refresh_metrics()
        assert all("clean_csv" in k for k in panel.chart_keys()[:3]), panel.chart_keys()
        bar.setValue(0)
        await asyncio.sleep(0.6)  # a few frames after the reorder: the moved charts are drawn
        for moved in panel.chart_keys()[:3]:
            x, _y = panel.chart(moved).plot.curve.getData()  # type: ignore[union-attr]
            assert x is not None and len(x), f"{moved} not drawn after moving up"
        bar.setValue(bar.maximum())
        panel.anomalies.table.selectRow(0)
        await asyncio.sleep(0.1)
        target = panel.chart(key)
        assert target is not None and not target.visibleRegion().isEmpty()
        assert target.property("selected") is True
        row_y = panel.anomalies.table.visualRect(panel.anomaly_model.index(0, 0)).y()
        for i in range(2, 6):
            newer = AnomalyRecord(
                id=i,
                metric=key,
                t=time.time() + i,
                value=0.1,
                expected=1.0,
                score=0.8,
                kind="drop",
            )
            panel.anomaly_model.add(newer)
        row = panel.anomaly_model.row_of(1)
        assert row == 4  # four newer rows above it, and yet it has not moved
        assert panel.anomalies.table.visualRect(panel.anomaly_model.index(row, 0)).y() == row_y


async def test_forecast_starts_at_the_last_sample() -> None:
    import numpy as np

    lagging = Forecast(
        t=np.array([1.0, 2.0]),
        mean=np.array([175.0, 176.0]),
        lower=np.array([170.0, 160.0]),
        upper=np.array([180.0, 190.0]),
        level=0.95,
    )
    shifted = anchored(lagging, 297.0)
    assert shifted is not None
    assert list(shifted.mean) == [297.0, 298.0]
    assert list(shifted.lower) == [292.0, 282.0] and list(shifted.upper) == [302.0, 312.0]

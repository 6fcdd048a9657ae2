"""What an idle Dashboard costs: a chart whose data or range changed is painted once (not
once more when pyqtgraph applies its deferred range change), a chart that did not change
is not painted, and charts scrolled out of view are not drawn at all."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from pytestqt.qtbot import QtBot

from app.panels.metrics.chart_plot import ChartPlot
from tests.app.conftest import EngineFactory
from tests.app.helpers import wait_until
from tests.metrics.gui.test_gui_dashboard import open_dashboard


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_a_moved_chart_is_painted_once_and_a_still_one_not_at_all(qtbot: QtBot) -> None:
    plot = ChartPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 220)
    plot.show()
    qtbot.waitExposed(plot)
    counter = PaintCounter()
    plot.viewport().installEventFilter(counter)
    t0 = 1_700_000_000.0
    ts = t0 + np.arange(120.0)
    vs = np.sin(ts / 7.0)
    plot.set_series(ts, vs)
    plot.set_ranges(t0, t0 + 150.0, -1.5, 1.5)
    qtbot.wait(200)
    for step in range(1, 4):  # a new sample and the time axis moved: one paint each
        counter.paints = 0
        ts, vs = np.append(ts, ts[-1] + 1.0), np.append(vs, 0.25)
        plot.set_series(ts, vs)
        plot.set_ranges(t0 + step, t0 + 150.0 + step, -1.5, 1.5)
        qtbot.wait(150)
        assert counter.paints == 1
    counter.paints = 0
    plot.set_markers([])  # what is already shown
    plot.set_thresholds([])
    for shift in (0.0, 2.5):  # the empty anomaly-rate strip's slices moved: nothing to show
        edges = t0 + shift + 2.5 * np.arange(62, dtype=np.float64)
        plot.set_rate(edges, np.zeros(61))
    qtbot.wait(150)
    assert counter.paints == 0


@pytest.mark.asyncio
async def test_charts_out_of_view_are_not_drawn(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        now = time.time()
        keys = [f"load.m{i:02d}" for i in range(12)]
        for key in keys:
            for i in range(40):
                env.node.hub.record(key, float(i % 5), None, now - 40 + i)
            panel.set_charted(key, True)
        await wait_until(lambda: panel.renderer.state(keys[0]) is not None, what="first frame")
        panel.redraw(everything=True)
        shown = {c.key for c in panel.grid.visible_charts()}
        assert shown and len(shown) < len(keys)
        drawn = {k for k in keys if (s := panel.renderer.state(k)) and s.revision is not None}
        assert drawn == shown, "only the charts on screen are drawn"
        hidden = next(k for k in keys if k not in shown)
        assert panel.renderer.state(hidden) is None


@pytest.mark.asyncio
async def test_a_quiet_board_reads_the_metric_list_in_its_own_frames(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    """Quiet, the board's once-a-second frame also re-reads the metric list (one wake-up
    and one paint pass, not two); paused, or busy, the list keeps its own timer."""
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        now = time.time()
        for i in range(40):
            env.node.hub.record("jobs.queued", float(i), None, now - 40 + i)
        panel.set_charted("jobs.queued", True)
        for _ in range(8):  # whole frames with nothing new
            panel.redraw()
        assert panel.quiet and not panel.metrics_timer.isActive()
        env.node.hub.record("jobs.failed", 1.0, None, time.time())
        await wait_until(
            lambda: "jobs.failed" in panel.browser.model.metric_keys(), what="listed by a frame"
        )
        panel.toolbar.pause_button.click()
        assert not panel.redraw_timer.isActive() and panel.metrics_timer.isActive()
        panel.toolbar.pause_button.click()
        assert panel.redraw_timer.isActive() and not panel.metrics_timer.isActive()

"""The Dashboard panel against a real engine, both directions: engine -> charts, markers,
anomalies list and predictions; panel -> engine (acknowledge, permission-checked and
audited). Waits are awaitable (never qtbot.wait* inside the coroutine)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.metrics.anomalies_model import AnomalyRecord
from app.panels.metrics.view import IDLE_FRAME_MS, REDRAW_HZ, SLICES, DashboardPanel
from chimera_engine.node import HeartNode
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_signal, wait_until

pytestmark = pytest.mark.asyncio

QUEUE = "queue.depth"


async def open_dashboard(
    bridge: EngineBridge, qtbot: QtBot, user: str = ADMIN_NAME, **kwargs: int
) -> DashboardPanel:
    """Sign ``user`` in and show the panel (1280x800), its anomaly list loaded."""
    await bridge.login(user, ADMIN_PASSWORD)
    panel = DashboardPanel(bridge, **kwargs)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    await wait_signal(panel.anomaliesLoaded)
    return panel


async def push_spike(node: HeartNode, name: str = QUEUE, spike: float = 400.0) -> int:
    """A flat series for 200 s, then one spike: the engine raises one anomaly; its id."""
    principal = (await node.facade.sessions.login(ADMIN_NAME, ADMIN_PASSWORD)).principal
    t0 = time.time() - 240
    samples = [{"name": name, "value": 10 + (i % 3), "t": t0 + i} for i in range(200)]
    samples.append({"name": name, "value": spike, "t": t0 + 200})
    result = await node.facade.metrics.push_metrics(principal, samples)
    assert result.anomalies == 1
    await node.hub.flush()
    stored = await node.facade.metrics.list_anomalies(principal, metric=name)
    return stored[0].id


def chart_data(panel: DashboardPanel, key: str) -> tuple[list[float], list[float]]:
    chart = panel.chart(key)
    assert chart is not None
    x, y = chart.plot.curve.getData()
    return ([] if x is None else list(x)), ([] if y is None else list(y))


async def test_metric_chosen_in_the_browser_is_charted_with_its_data(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        now = time.time()
        for i in range(50):
            env.node.hub.record("orders.rate", 100.0 + i, {"shop": "eu"}, now - 50 + i)
        key = "orders.rate{shop=eu}"
        await wait_until(lambda: key in panel.browser.model.metric_keys(), what="metric listed")

        browser = panel.browser
        browser.search_edit.setText("orders")
        assert browser.visible_keys() == [key]
        browser.set_prefix("orders")
        browser.set_state("ok")
        assert browser.visible_keys() == [key]
        browser.set_state("warming_up")
        assert browser.visible_keys() == []
        browser.set_state("")
        index = browser.proxy.index(0, 0)
        assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
        browser.proxy.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)

        assert panel.chart_keys() == [key]
        assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        await wait_until(lambda: len(chart_data(panel, key)[1]) == 50, what="data drawn")
        xs, ys = chart_data(panel, key)
        assert ys[0] == 100.0 and ys[-1] == 149.0
        assert xs[-1] == pytest.approx(now - 1, abs=0.01)
        chart = panel.chart(key)
        assert chart is not None
        await wait_until(lambda: chart.value_label.text() == "149", what="latest value shown")

        # New samples reach the chart on a later frame; the panel never draws per sample.
        env.node.hub.record("orders.rate", 180.0, {"shop": "eu"}, time.time())
        await wait_until(lambda: chart_data(panel, key)[1][-1] == 180.0, what="new sample")

        # The chart's own close button removes it, and it stays removed.
        chart.remove_button.click()
        assert panel.chart_keys() == []
        index = browser.proxy.index(0, 0)  # (the list may have been re-read meanwhile)
        assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
        panel.refresh_metrics()
        assert panel.chart_keys() == []


async def test_spike_shows_a_marker_and_a_row_and_its_details_on_click(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        detected = asyncio.ensure_future(wait_signal(env.bridge.anomalyDetected))
        anomaly_id = await push_spike(env.node)
        (event_id, event) = await detected
        assert event_id == anomaly_id and event.kind.value == "spike"
        panel.set_charted(QUEUE, True)
        chart = panel.chart(QUEUE)
        assert chart is not None

        # engine -> list: one row, with time, metric, type, score and no acknowledgement.
        await wait_until(lambda: panel.anomaly_model.rowCount() == 1, what="row listed")
        texts = [panel.anomaly_model.index(0, c).data() for c in range(7)]
        assert texts[1:3] == [QUEUE, "Spike"]
        assert float(texts[3]) >= 0.6 and texts[4] == "400" and texts[6] == "Open"
        # engine -> chart: a red marker at the spike, counted in the anomaly-rate strip.
        await wait_until(lambda: chart.plot.marker_ids() == [anomaly_id], what="marker drawn")
        spots = chart.plot.markers["spike"].data
        assert len(spots) == 1 and spots[0]["y"] == 400.0
        assert chart.plot.rate.opts["height"].sum() == 1
        assert "spike" in chart.plot.legend_entries
        assert "Spike" in chart.legend_label.text()

        # A real click on the marker shows its score, expected value and type.
        await wait_until(lambda: chart.plot.main.getViewBox().viewRect().width() > 0)
        pos = chart.plot.marker_scene_pos(anomaly_id)
        QTest.mouseClick(
            chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y()))
        )
        details = panel.inspector.details_label.text()
        assert details.startswith("Spike (score ")
        assert "value 400, expected 1" in details and QUEUE in details
        assert panel.anomalies.selected()[0].id == anomaly_id
        assert panel.inspector.key == QUEUE, "clicking a chart inspects it"

        # Display sensitivity: above the anomaly's score its marker is hidden.
        record = panel.anomaly_model.get(anomaly_id)
        assert isinstance(record, AnomalyRecord)
        panel.inspector.min_score_spin.setValue(min(1.0, record.score + 0.01))
        await wait_until(lambda: chart.plot.marker_ids() == [], what="marker hidden")
        assert panel.anomaly_model.rowCount() == 1, "the list keeps every anomaly"


async def test_acknowledge_from_the_panel_reaches_the_engine_and_the_audit_log(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        anomaly_id = await push_spike(env.node)
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        assert panel.anomaly_model.rowCount() == 1, "loaded from the engine at start"
        button = panel.anomalies.ack_button
        assert not button.isEnabled(), "nothing selected"
        assert panel.anomalies.select(anomaly_id)
        assert button.isEnabled()
        assert "audit log" in button.toolTip()

        button.click()
        assert not button.isEnabled(), "no second click while it runs"
        acked_id, ok, _text = await wait_signal(panel.anomalies.acknowledged)
        assert (acked_id, ok) == (anomaly_id, True)

        # panel -> engine: recorded as the signed-in user, and audited.
        assert env.admin is not None
        stored = await env.node.facade.metrics.list_anomalies(env.admin.principal)
        assert [(a.id, a.acknowledged_by) for a in stored] == [(anomaly_id, ADMIN_NAME)]
        entries = await audit_entries(env.node, "anomaly.acknowledge")
        assert [(e.actor, e.target, e.outcome) for e in entries] == [
            (ADMIN_NAME, f"anomaly:{anomaly_id}", "ok")
        ]
        # ... and the panel shows who acknowledged it.
        row = panel.anomaly_model.row_of(anomaly_id)
        assert str(panel.anomaly_model.index(row, 6).data()).startswith(f"{ADMIN_NAME} at ")
        assert not button.isEnabled(), "already acknowledged"
        assert panel.anomalies.summary_label.text() == "0 open of 1"


async def test_acknowledge_all_open_is_one_request_and_one_audit_entry(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        first = await push_spike(env.node)
        second = await push_spike(env.node, name="other.depth")
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        button = panel.anomalies.ack_all_button
        await wait_until(lambda: panel.anomaly_model.open_count() == 2, what="both listed")
        assert button.isEnabled() and "one audit entry" in button.toolTip()
        button.click()
        assert not button.isEnabled(), "no second click while it runs"
        acked_id, ok, text = await wait_signal(panel.anomalies.acknowledged)
        assert (acked_id, ok, text) == (-1, True, "Acknowledged 2 anomalies")
        assert env.admin is not None
        stored = await env.node.facade.metrics.list_anomalies(env.admin.principal)
        assert {(a.id, a.acknowledged_by) for a in stored} == {
            (first, ADMIN_NAME),
            (second, ADMIN_NAME),
        }
        entries = await audit_entries(env.node, "anomaly.acknowledge_bulk")
        assert [(e.actor, e.target, e.outcome) for e in entries] == [
            (ADMIN_NAME, "anomaly:*", "ok")
        ]
        assert panel.anomaly_model.open_count() == 0 and not button.isEnabled()
        # Nothing left: a second bulk request acknowledges nothing and changes nothing.
        again = await env.node.facade.metrics.acknowledge_anomalies(env.admin.principal)
        assert again == []


async def test_acknowledged_elsewhere_updates_the_list(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        anomaly_id = await push_spike(env.node)
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        assert env.admin is not None
        await env.node.facade.metrics.acknowledge_anomaly(env.admin.principal, anomaly_id)
        await wait_until(lambda: panel.anomaly_model.open_count() == 0, what="ack shown")
        record = panel.anomaly_model.get(anomaly_id)
        assert record is not None and record.acknowledged_by == ADMIN_NAME


async def test_observer_cannot_acknowledge(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        anomaly_id = await push_spike(env.node)
        panel = await open_dashboard(env.bridge, qtbot, user="olga", max_default_charts=0)
        assert panel.anomaly_model.rowCount() == 1, "observers may read anomalies"
        assert panel.anomalies.select(anomaly_id)
        button = panel.anomalies.ack_button
        assert not button.isEnabled()
        assert "anomaly.acknowledge" in button.toolTip()
        assert "olga (observer)" in button.toolTip()
        assert not panel.anomalies.ack_all_button.isEnabled()
        panel.set_charted(QUEUE, True)
        await wait_until(lambda: len(chart_data(panel, QUEUE)[1]) == 201, what="charted")


async def test_forecast_threshold_and_failure_prediction(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine(CHIMERA_METRICS__FORECAST_INTERVAL="0.05") as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        assert panel.predictions.messages() == []
        predicted = asyncio.ensure_future(wait_signal(env.bridge.failurePredicted, within=5))
        env.node.hub.set_thresholds("disk.used_percent", None, 90.0)
        start = time.time() - 600
        for i in range(120):  # +0.1 % every 5 s: 90 % is about 20 minutes away
            env.node.hub.record("disk.used_percent", 70.0 + 0.1 * i, None, start + 5 * i)
        (alert,) = await predicted
        (shown,) = panel.predictions.messages()
        assert shown.split(",")[0] == alert.message().split(",")[0]  # "... at HH:MM"
        assert "disk.used_percent is forecast to cross 90" in panel.predictions.text_label.text()

        panel.toolbar.set_window("Last 1 h")
        panel.set_charted("disk.used_percent", True)
        chart = panel.chart("disk.used_percent")
        assert chart is not None
        await wait_until(lambda: chart.plot.forecast_shown, what="forecast drawn")
        assert chart.plot.thresholds == [90.0]
        band_x, band_hi = chart.plot.band_hi.getData()
        _, band_lo = chart.plot.band_lo.getData()
        assert band_x[0] > start + 5 * 119, "the forecast starts after the last sample"
        assert np.all(band_hi >= band_lo) and band_hi[-1] > 82.0
        assert {"forecast", "threshold"} <= set(chart.plot.legend_entries)
        assert "Forecast" in chart.legend_label.text()

        panel.toolbar.forecast_check.setChecked(False)
        assert not chart.plot.forecast_shown


async def test_pause_freezes_the_charts_until_resumed(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        now = time.time()
        for i in range(40):
            env.node.hub.record("jobs.queued", float(i), None, now - 40 + i)
        panel.set_charted("jobs.queued", True)
        await wait_until(lambda: len(chart_data(panel, "jobs.queued")[1]) == 40)

        panel.toolbar.pause_button.click()
        assert panel.paused and panel.toolbar.pause_button.text() == "Resume"
        assert not panel.redraw_timer.isActive()
        env.node.hub.record("jobs.queued", 99.0, None, time.time())
        for _ in range(10):  # even if a tick came, it would draw nothing
            panel.redraw()
        assert len(chart_data(panel, "jobs.queued")[1]) == 40, "frozen while paused"

        panel.toolbar.pause_button.click()
        assert chart_data(panel, "jobs.queued")[1][-1] == 99.0, "redrawn at once on resume"
        assert panel.redraw_timer.isActive()


async def test_default_charts_and_redraws_only_while_shown(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=3)
        now = time.time()
        for tool in ("b_tool", "a_tool"):
            for name in ("tool.calls", "tool.confidence", "tool.latency_ms", "tool.error_rate"):
                env.node.hub.record(name, 1.0, {"tool": tool}, now)
        panel.refresh_metrics()
        # Built one per turn of the loop (never a dozen at once).
        assert panel.pending_charts() == 3 and panel.chart_keys() == []
        await wait_until(lambda: panel.pending_charts() == 0, what="the default charts")
        # At most 3 by default: latency, error rate, confidence of the first tool.
        assert panel.chart_keys() == [
            "tool.latency_ms{tool=a_tool}",
            "tool.error_rate{tool=a_tool}",
            "tool.confidence{tool=a_tool}",
        ]
        panel.hide()
        assert not panel.redraw_timer.isActive()
        assert panel.grid.visible_charts() == []
        panel.show()
        assert panel.redraw_timer.isActive()


async def test_a_board_without_new_samples_ticks_slowly_and_stays_still(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        assert panel.toolbar.frame_label.text() in ("", "no charts: pick metrics in the browser")
        now = time.time()
        for i in range(40):
            env.node.hub.record("jobs.queued", float(i), None, now - 40 + i)
        panel.set_charted("jobs.queued", True)
        await wait_until(lambda: len(chart_data(panel, "jobs.queued")[1]) == 40)
        busy = round(1000 / (REDRAW_HZ * SLICES))  # ms per group of charts
        for _ in range(SLICES * 2):  # two whole frames with nothing new
            panel.redraw()
        assert panel.quiet and panel.redraw_timer.interval() == max(busy, IDLE_FRAME_MS)
        assert panel.toolbar.frame_label.text().startswith("1 of 1 chart on screen")
        state = panel.renderer.state("jobs.queued")
        assert state is not None
        still = state.x_range
        # Seconds later, still nothing new: the time axis has not moved.
        panel.renderer.draw(panel.grid.visible_charts(), time.time() + 5.0)
        assert state.x_range == still

        # A lone sample (the engine's process metrics come every 2 s) is drawn by the
        # next quiet frame, which stays quiet: one wake-up a second, one paint pass.
        env.node.hub.record("jobs.queued", 99.0, None, time.time())
        panel.redraw()
        assert chart_data(panel, "jobs.queued")[1][-1] == 99.0
        assert panel.quiet and panel.redraw_timer.interval() == max(busy, IDLE_FRAME_MS)
        panel.redraw()  # nothing new
        # Samples in frame after frame (the demo resumed): the fast pace again.
        for value in (100.0, 101.0):
            env.node.hub.record("jobs.queued", value, None, time.time())
            panel.redraw()
        assert chart_data(panel, "jobs.queued")[1][-1] == 101.0
        assert not panel.quiet and panel.redraw_timer.interval() == busy

"""The Dashboard's detection settings against a real engine, both directions: the
detector combo, the sensitivity slider and spin box and the threshold line change the
engine (audited, permission-checked); a change made in the engine shows in the panel."""

from __future__ import annotations

import time

import pytest
from pytestqt.qtbot import QtBot

from app.panels.metrics.settings import MetricSettingsEditor, parse_thresholds
from chimera_engine.metrics.settings import alert_threshold
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, audit_entries, wait_signal, wait_until
from tests.metrics.gui.test_gui_dashboard import open_dashboard

pytestmark = pytest.mark.asyncio

KEY = "disk.used_percent"


async def test_widget_changes_the_engine_and_the_engine_changes_the_widget(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_dashboard(env.bridge, qtbot, max_default_charts=0)
        now = time.time()
        for i in range(60):
            env.node.hub.record(KEY, 50.0 + 0.1 * i, None, now - 60 + i)
        panel.set_charted(KEY, True)
        panel.select_chart(KEY)
        editor: MetricSettingsEditor = panel.settings_editor
        assert editor.key == KEY and editor.detector_combo.isEnabled()
        assert editor.detector_combo.currentData() == "ensemble"
        assert editor.sensitivity_spin.value() == 0.5

        # widget -> engine: the detector combo ...
        editor.detector_combo.setCurrentIndex(editor.detector_combo.findData("zscore"))
        editor.detector_combo.activated.emit(editor.detector_combo.currentIndex())
        await wait_signal(editor.applied)
        engine_ = env.node.hub.engine
        assert engine_.settings(KEY).detector == "zscore"
        assert engine_.effective_config(KEY).weights == (1.0, 0.0, 0.0, 0.0, 0.0)
        # ... the sensitivity slider (keyboard steps apply at once) ...
        editor.sensitivity_slider.setValue(80)
        await wait_signal(editor.applied)
        assert engine_.effective_config(KEY).alert_threshold == alert_threshold(0.8)
        assert editor.sensitivity_spin.value() == 0.8
        # ... and the threshold line, drawn on the chart.
        editor.threshold_edit.setText("90, 95")
        editor.threshold_edit.editingFinished.emit()
        await wait_signal(editor.applied)
        assert engine_.thresholds(KEY) == [90.0, 95.0]
        chart = panel.chart(KEY)
        assert chart is not None
        await wait_until(lambda: chart.plot.thresholds == [90.0, 95.0], what="lines drawn")
        entries = await audit_entries(env.node, "metric.configure")
        assert [(e.actor, e.target) for e in entries] == [(ADMIN_NAME, f"metric:{KEY}")] * 3

        # engine -> widget: a change made elsewhere shows on the next refresh.
        assert env.admin is not None
        await env.node.facade.metrics.configure_metric(
            env.admin.principal, KEY, detector="trend", sensitivity=0.2
        )
        panel.refresh_metrics()
        assert editor.detector_combo.currentData() == "trend"
        assert editor.sensitivity_slider.value() == 20
        assert "≥ 0.79" in editor.status_label.text()


async def test_observer_sees_but_cannot_change(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        assert env.admin is not None
        await env.node.facade.admin.create_user(
            env.admin.principal, "olga", ADMIN_PASSWORD, "observer"
        )
        panel = await open_dashboard(env.bridge, qtbot, user="olga", max_default_charts=0)
        env.node.hub.record(KEY, 1.0, None, time.time())
        panel.set_charted(KEY, True)
        panel.select_chart(KEY)
        editor = panel.settings_editor
        assert not editor.detector_combo.isEnabled()
        assert not editor.sensitivity_slider.isEnabled()
        assert "metrics.configure" in editor.toolTip()


async def test_parse_thresholds() -> None:
    assert parse_thresholds("1, 2;3") == [1.0, 2.0, 3.0]
    assert parse_thresholds("  ") is None
    with pytest.raises(ValueError, match="could not convert"):
        parse_thresholds("high")

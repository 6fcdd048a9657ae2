"""The Dashboard's models and helpers without an engine: anomaly rows, the metric list
and its filters, default charts, the prediction strip, and the modules' doctests."""

from __future__ import annotations

import doctest
import math
from types import ModuleType

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.panels.metrics import anomalies_model as anomalies
from app.panels.metrics import anomaly_kinds, chart, metric_list
from app.panels.metrics.anomalies_model import AnomalyRecord, AnomalyTableModel
from app.panels.metrics.metric_list import MetricFilterProxy, MetricListModel
from app.panels.metrics.predictions import SHOWN, PredictionStrip
from app.panels.metrics.view import default_rank
from chimera_engine.anomaly.engine import PredictiveAlert
from chimera_engine.metrics.hub import MetricInfo


def record(anomaly_id: int, t: float, metric: str = "m", **kw: object) -> AnomalyRecord:
    fields: dict[str, object] = {
        "value": 5.0,
        "expected": 1.0,
        "score": 0.9,
        "kind": "spike",
        **kw,
    }
    return AnomalyRecord(id=anomaly_id, metric=metric, t=t, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("module", [anomalies, anomaly_kinds, metric_list, chart])
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_anomaly_rows_most_recent_first_one_row_per_anomaly(qtbot: QtBot) -> None:
    model = AnomalyTableModel()
    model.merge([record(1, 100.0), record(3, 300.0, "n")])
    model.add(record(2, 200.0))
    assert [model.record(r).id for r in range(model.rowCount())] == [3, 2, 1]
    revision = model.revision("m")
    model.add(record(2, 200.0))  # the same anomaly again (event after the initial load)
    assert model.rowCount() == 3
    assert model.acknowledge(2, "olivia", 250.0)
    assert model.revision("m") > revision
    assert str(model.index(model.row_of(2), 6).data()).startswith("olivia at ")
    model.merge([record(2, 200.0)])  # a stale copy never undoes an acknowledgement
    acked = model.get(2)
    assert acked is not None and acked.acknowledged_by == "olivia"
    assert model.open_count() == 2
    assert sorted(r.id for r in model.for_metric("m")) == [1, 2]
    assert model.acknowledge(99, "x") is False
    assert model.index(0, 2).data() == "Spike"
    assert model.index(0, 2).data(Qt.ItemDataRole.ForegroundRole) is not None


def test_anomaly_rows_are_bounded(qtbot: QtBot) -> None:
    model = AnomalyTableModel(max_rows=3)
    model.merge(record(i, float(i)) for i in range(1, 6))
    assert [model.record(r).id for r in range(3)] == [5, 4, 3]
    assert model.get(1) is None and model.row_of(2) == -1
    assert sorted(r.id for r in model.for_metric("m")) == [3, 4, 5]


def test_record_describes_itself() -> None:
    text = record(7, 0.0, "lat{tool=a}", kind="drop", value=math.nan).describe()
    assert text.startswith("Drop on lat{tool=a} at ")
    assert "value —, expected 1, score 0.90 (not acknowledged)" in text


def info(key: str, state: str = "ok", value: float = 1.0) -> MetricInfo:
    return MetricInfo(key=key, samples=40, state=state, last_t=0.0, last_value=value, rejected=0)


def test_metric_list_filters_and_check_boxes(qtbot: QtBot) -> None:
    model = MetricListModel()
    proxy = MetricFilterProxy()
    proxy.setSourceModel(model)
    model.set_metrics(
        [info("tool.calls{tool=a}"), info("host.cpu", "warming_up"), info("process.rss_mb")]
    )
    assert model.metric_keys() == ["host.cpu", "process.rss_mb", "tool.calls{tool=a}"]
    assert model.prefixes() == ["host", "process", "tool"]

    def shown() -> list[str]:
        return [proxy.index(r, 0).data() for r in range(proxy.rowCount())]

    proxy.set_filters(text="", prefix="tool", state="")
    assert shown() == ["tool.calls{tool=a}"]
    proxy.set_filters(text="CPU", prefix="", state="")
    assert shown() == ["host.cpu"]
    proxy.set_filters(text="", prefix="", state="ok")
    assert shown() == ["process.rss_mb", "tool.calls{tool=a}"]

    toggled: list[tuple[str, bool]] = []
    model.chartToggled.connect(lambda key, on: toggled.append((key, on)))
    model.setData(model.index(0, 0), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert toggled == [("host.cpu", True)]
    model.set_charted(["host.cpu"])
    assert model.index(0, 0).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked

    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.set_metrics([info(k, value=2.0) for k in model.metric_keys()])  # same metrics: no reset
    assert resets == [] and model.index(1, 1).data() == "2"


def test_default_charts_order() -> None:
    keys = [
        "tool.confidence{tool=b}",
        "host.cpu_percent",
        "tool.latency_ms{tool=b}",
        "process.rss_mb",
        "tool.error_rate{tool=a}",
        "tool.calls{tool=a}",
        "process.cpu_percent",
    ]
    ranked = sorted((rank, k) for k in keys if (rank := default_rank(k)) is not None)
    assert [k for _, k in ranked] == [
        "process.cpu_percent",
        "process.rss_mb",
        "tool.error_rate{tool=a}",
        "tool.latency_ms{tool=b}",
        "tool.confidence{tool=b}",
    ]


def test_prediction_strip(qtbot: QtBot) -> None:
    now = [1000.0]
    strip = PredictionStrip(clock=lambda: now[0])
    qtbot.addWidget(strip)
    assert strip.messages() == [] and not strip.icon_label.isVisibleTo(strip)
    alerts = [
        PredictiveAlert(f"disk{i}", 1000.0 + i, 90.0, "up", 12.0, 8.0, None) for i in range(4)
    ]
    strip.set_alerts(alerts[:3])
    strip.add(alerts[3])
    first = strip.messages()[0]
    assert first.startswith("disk3 is forecast to cross 90 at ") and ", in 12 min" in first
    lines = strip.text_label.text().splitlines()
    assert len(lines) == SHOWN and "(+2 earlier)" in lines[-1]
    assert strip.icon_label.isVisibleTo(strip)
    # The countdown runs to the fixed time; the clock time itself does not move.
    now[0] += 9 * 60.0
    later = strip.messages()[0]
    assert ", in 3 min" in later and later.split(",")[0] == first.split(",")[0]
    # A newer prediction of the same crossing replaces the older one.
    strip.add(PredictiveAlert("disk3", now[0], 90.0, "up", 5.0, 4.0, 6.0))
    assert len(strip.messages()) == 4
    # Withdrawn: it leaves the strip; past its time (plus grace): it leaves too.
    strip.withdraw(alerts[2], "the forecast no longer crosses")
    assert not any(m.startswith("disk2 ") for m in strip.messages())
    now[0] += 3600.0
    strip.withdraw(alerts[0])  # re-styles
    assert strip.messages() == [] and not strip.icon_label.isVisibleTo(strip)

"""ChartInspector: the selected chart's metric, its display sensitivity and the details
of the anomaly last clicked (a marker or a row of the list)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.panels.metrics.anomalies_model import AnomalyRecord, format_value
from app.panels.metrics.anomaly_kinds import kind_style
from app.panels.metrics.render import DEFAULT_MIN_SCORE
from app.shared.formatting import format_time
from app.theme import set_themed_style
from app.widgets.labels import selectable_label

NO_CHART = "Click a chart to inspect it."
NO_MARKER = "Click an anomaly marker or a row of the list to see its details."
SENSITIVITY_TIP = (
    "Markers and the anomaly-rate strip of this chart show only anomalies scoring at "
    "least this much (a display filter; {engine:.2f} is the engine's default alert score). "
    "What the engine raises is set under Detection: detector and sensitivity per metric."
)


class ChartInspector(QFrame):
    """:attr:`minScoreChanged` (metric key, score) when the operator changes the
    selected chart's sensitivity."""

    minScoreChanged = Signal(str, float)

    def __init__(self, engine_threshold: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardInspector")
        set_themed_style(
            self,
            "QFrame#dashboardInspector { background: #ffffff; border: 1px solid #d3d9e2;"
            " border-radius: 6px; }"
            "QLabel#inspectorTitle { font-weight: 600; color: #323f4b; }"
            "QLabel#dashboardInspectorMetric { font-weight: 600; color: #102a43; }"
            "QLabel#dashboardInspectorInfo, QLabel#inspectorHint { color: #616e7c; }",
        )
        self._key: str | None = None
        self.anomaly_id: int | None = None
        title = QLabel("Inspector", self)
        title.setObjectName("inspectorTitle")
        self.metric_label = selectable_label(
            "dashboardInspectorMetric", self, NO_CHART, severity=None
        )
        self.info_label = selectable_label("dashboardInspectorInfo", self, "", severity=None)
        self.min_score_spin = QDoubleSpinBox(self)
        self.min_score_spin.setObjectName("dashboardMinScoreSpin")
        self.min_score_spin.setRange(0.0, 1.0)
        self.min_score_spin.setSingleStep(0.05)
        self.min_score_spin.setDecimals(2)
        self.min_score_spin.setValue(DEFAULT_MIN_SCORE)
        self.min_score_spin.setEnabled(False)
        self.min_score_spin.setToolTip(SENSITIVITY_TIP.format(engine=engine_threshold))
        self.min_score_spin.valueChanged.connect(self._spin_changed)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.addRow("Show anomalies scoring ≥", self.min_score_spin)
        self.details_label = selectable_label(
            "dashboardDetailsLabel", self, NO_MARKER, severity=None
        )
        set_themed_style(self.details_label, "color: #3e4c59;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.metric_label)
        layout.addWidget(self.info_label)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addWidget(self.details_label, 1, Qt.AlignmentFlag.AlignTop)

    @property
    def key(self) -> str | None:
        return self._key

    def show_chart(self, key: str | None, min_score: float, info: str = "") -> None:
        self._key = key
        self.metric_label.setText(key or NO_CHART)
        self.info_label.setText(info)
        self.info_label.setVisible(bool(info))
        self.min_score_spin.blockSignals(True)
        self.min_score_spin.setValue(min_score)
        self.min_score_spin.blockSignals(False)
        self.min_score_spin.setEnabled(key is not None)

    def show_anomaly(self, record: AnomalyRecord | None) -> None:
        self.anomaly_id = None if record is None else record.id
        if record is None:
            self.details_label.setText(NO_MARKER)
            return
        style = kind_style(record.kind)
        ack = record.acknowledged_by if record.acknowledged else "not yet"
        self.details_label.setText(
            f"{style.label} (score {record.score:.2f})\n"
            f"{record.metric}\n"
            f"at {format_time(record.t)}\n"
            f"value {format_value(record.value)}, expected {format_value(record.expected)}\n"
            f"acknowledged: {ack}"
        )
        self.details_label.setToolTip(style.description)

    def _spin_changed(self, value: float) -> None:
        if self._key is not None:
            self.minScoreChanged.emit(self._key, value)

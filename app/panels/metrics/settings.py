"""MetricSettingsEditor: the selected chart's detector, sensitivity and alert thresholds.

Every change goes to the engine through the facade (``metrics.configure``,
audited, persisted): the detector when the combo changes, the sensitivity when
the slider is released (or the spin box edited), the thresholds when the line
is edited (comma-separated numbers; empty = the collector's defaults). The
panel calls :meth:`MetricSettingsEditor.sync` about once a second with what the
engine holds, so a change made elsewhere (the API, another console) shows here.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.shared.permissions import missing_permission
from app.theme import set_themed_style
from chimera_engine.metrics.settings import MetricSettings, alert_threshold
from chimera_engine.security.permissions import Permission

DETECTOR_LABELS = {
    "ensemble": "Ensemble (all)",
    "zscore": "Z-score",
    "ewma": "EWMA",
    "trend": "Trend",
    "context": "Context",
    "seasonal": "Seasonal",
}
NO_METRIC = "Click a chart to tune its detection."


def parse_thresholds(text: str) -> list[float] | None:
    """Numbers of a comma-separated line (None: empty, the defaults).

    >>> parse_thresholds(" 90, 95.5 "), parse_thresholds("")
    ([90.0, 95.5], None)
    """
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        return None
    values = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("thresholds must be finite numbers")
    return values


class MetricSettingsEditor(QFrame):
    """:attr:`applied` (key, settings) once the engine accepted a change made here."""

    applied = Signal(str, object)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardSettings")
        set_themed_style(
            self,
            "QFrame#dashboardSettings { background: #ffffff; border: 1px solid #d3d9e2;"
            " border-radius: 6px; }"
            "QLabel#settingsTitle { font-weight: 600; color: #323f4b; }"
            "QLabel#dashboardSettingsStatus { color: #616e7c; }",
        )
        self._bridge = bridge
        self._key: str | None = None
        self._settings = MetricSettings()
        self._pending = 0
        title = QLabel("Detection", self)
        title.setObjectName("settingsTitle")
        self.metric_label = QLabel(NO_METRIC, self)
        self.metric_label.setObjectName("dashboardSettingsMetric")
        self.metric_label.setWordWrap(True)
        self.detector_combo = QComboBox(self)
        self.detector_combo.setObjectName("dashboardDetectorCombo")
        for name, label in DETECTOR_LABELS.items():
            self.detector_combo.addItem(label, name)
        self.detector_combo.setToolTip(
            "Which detector raises this metric's anomalies (all of them keep learning):\n"
            "Ensemble: every detector, one calibrated score\n"
            "Z-score: spikes and drops\n"
            "EWMA: small sustained shifts\n"
            "Trend: slope changes\n"
            "Context: shapes the metric has not shown before\n"
            "Seasonal: unusual for this hour of the day"
        )
        self.sensitivity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.sensitivity_slider.setObjectName("dashboardSensitivitySlider")
        self.sensitivity_slider.setRange(0, 100)
        self.sensitivity_spin = QDoubleSpinBox(self)
        self.sensitivity_spin.setObjectName("dashboardSensitivitySpin")
        self.sensitivity_spin.setRange(0.0, 1.0)
        self.sensitivity_spin.setSingleStep(0.05)
        self.sensitivity_spin.setDecimals(2)
        tip = "Higher: more anomalies (a lower score raises one). 0.50 is the default."
        self.sensitivity_slider.setToolTip(tip)
        self.sensitivity_spin.setToolTip(tip)
        sens_row = QHBoxLayout()
        sens_row.setSpacing(6)
        sens_row.addWidget(self.sensitivity_slider, 1)
        sens_row.addWidget(self.sensitivity_spin)
        self.threshold_edit = QLineEdit(self)
        self.threshold_edit.setObjectName("dashboardThresholdEdit")
        self.threshold_edit.setPlaceholderText("defaults")
        self.threshold_edit.setToolTip(
            "Alert thresholds the forecast watches (comma-separated; empty = the defaults). "
            "Drawn as dashed lines on the chart."
        )
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("dashboardSettingsStatus")
        self.status_label.setWordWrap(True)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Detector", self.detector_combo)
        form.addRow("Sensitivity", sens_row)
        form.addRow("Thresholds", self.threshold_edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.metric_label)
        layout.addLayout(form)
        layout.addWidget(self.status_label, 1, Qt.AlignmentFlag.AlignTop)

        self.detector_combo.activated.connect(self._detector_chosen)
        self.sensitivity_slider.valueChanged.connect(self._slider_moved)
        self.sensitivity_slider.sliderReleased.connect(self._slider_released)
        self.sensitivity_spin.editingFinished.connect(self._spin_edited)
        self.threshold_edit.editingFinished.connect(self._thresholds_edited)
        bridge.sessionChanged.connect(self.update_enabled)
        self.update_enabled()

    @property
    def key(self) -> str | None:
        return self._key

    @property
    def settings(self) -> MetricSettings:
        return self._settings

    # -- engine -> widget --------------------------------------------------------------------
    def show_metric(
        self, key: str | None, settings: MetricSettings, thresholds: list[float]
    ) -> None:
        """Show ``key``'s settings (``thresholds``: the ones in effect)."""
        self._key = key
        self.metric_label.setText(key or NO_METRIC)
        self._show(settings, thresholds, force=True)
        self.update_enabled()

    def sync(self, settings: MetricSettings, thresholds: list[float]) -> None:
        """What the engine holds now; ignored while a change made here is on its way."""
        if self._pending == 0:
            self._show(settings, thresholds)

    def _show(self, settings: MetricSettings, thresholds: list[float], force: bool = False) -> None:
        if settings == self._settings and not force:
            return
        self._settings = settings
        for widget in (self.detector_combo, self.sensitivity_slider, self.sensitivity_spin):
            widget.blockSignals(True)
        self.detector_combo.setCurrentIndex(max(0, self.detector_combo.findData(settings.detector)))
        self.sensitivity_slider.setValue(round(settings.sensitivity * 100))
        self.sensitivity_spin.setValue(settings.sensitivity)
        for widget in (self.detector_combo, self.sensitivity_slider, self.sensitivity_spin):
            widget.blockSignals(False)
        if not self.threshold_edit.hasFocus():
            self.threshold_edit.setText(", ".join(f"{t:g}" for t in thresholds))
            self.threshold_edit.setPlaceholderText(
                "defaults" if settings.thresholds is None else "none"
            )
        self._describe(settings)

    def _describe(self, settings: MetricSettings) -> None:
        text = f"Raises anomalies scoring ≥ {alert_threshold(settings.sensitivity):.2f}."
        if settings.updated_by:
            text += f" Last changed by {settings.updated_by}."
        self.status_label.setText(text)

    def update_enabled(self, *_args: object) -> None:
        session = self._bridge.session
        why = missing_permission(
            session.principal if session else None, Permission.METRICS_CONFIGURE
        )
        editable = not why and self._key is not None
        for widget in (
            self.detector_combo,
            self.sensitivity_slider,
            self.sensitivity_spin,
            self.threshold_edit,
        ):
            widget.setEnabled(editable)
        self.setToolTip(why)

    # -- widget -> engine --------------------------------------------------------------------
    def _detector_chosen(self, _index: int) -> None:
        self.apply(detector=str(self.detector_combo.currentData()))

    def _slider_moved(self, value: int) -> None:
        self.sensitivity_spin.blockSignals(True)
        self.sensitivity_spin.setValue(value / 100)
        self.sensitivity_spin.blockSignals(False)
        if not self.sensitivity_slider.isSliderDown():  # keyboard or wheel: apply now
            self.apply(sensitivity=value / 100)

    def _slider_released(self) -> None:
        self.apply(sensitivity=self.sensitivity_slider.value() / 100)

    def _spin_edited(self) -> None:
        value = round(self.sensitivity_spin.value(), 2)
        self.sensitivity_slider.blockSignals(True)
        self.sensitivity_slider.setValue(round(value * 100))
        self.sensitivity_slider.blockSignals(False)
        if value != self._settings.sensitivity:
            self.apply(sensitivity=value)

    def _thresholds_edited(self) -> None:
        try:
            values = parse_thresholds(self.threshold_edit.text())
        except ValueError:
            self.status_label.setText("Thresholds: type numbers separated by commas.")
            return
        current = None if self._settings.thresholds is None else list(self._settings.thresholds)
        if values == current:
            return
        if values is None:
            self.apply(default_thresholds=True)
        else:
            self.apply(thresholds=values)

    def apply(
        self,
        *,
        detector: str | None = None,
        sensitivity: float | None = None,
        thresholds: list[float] | None = None,
        default_thresholds: bool = False,
    ) -> None:
        """Send one change for the shown metric to the engine."""
        key = self._key
        if key is None or self._bridge.closed or self._bridge.session is None:
            return
        self._pending += 1

        def done(settings: MetricSettings) -> None:
            self._pending -= 1
            if key == self._key:
                self._show(settings, list(settings.thresholds or ()), force=True)
            self.applied.emit(key, settings)

        def failed(exc: Exception) -> None:
            self._pending -= 1
            self.status_label.setText(f"Not changed: {exc}")

        self._bridge.run(
            self._bridge.metrics.configure_metric(
                key,
                detector=detector,
                sensitivity=sensitivity,
                thresholds=thresholds,
                default_thresholds=default_thresholds,
            ),
            on_success=done,
            on_error=failed,
            title="Could not change the metric's detection",
        )

"""The dashboard's toolbar: time window, forecasts, pause/resume, the metric browser
toggle and a live figure of how long a redraw takes."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from app.panels.metrics.render import WINDOWS
from app.theme import set_themed_style


class DashboardToolbar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardToolbar")
        self.browser_button = QPushButton("Metrics", self)
        self.browser_button.setObjectName("dashboardBrowserButton")
        self.browser_button.setCheckable(True)
        self.browser_button.setChecked(True)
        self.browser_button.setToolTip("Show or hide the metric browser (add and remove charts)")

        self.window_combo = QComboBox(self)
        self.window_combo.setObjectName("dashboardWindowCombo")
        for name, seconds in WINDOWS.items():
            self.window_combo.addItem(name, seconds)
        self.window_combo.setToolTip("How much history every chart shows")

        self.forecast_check = QCheckBox("Forecast", self)
        self.forecast_check.setObjectName("dashboardForecastCheck")
        self.forecast_check.setChecked(True)
        self.forecast_check.setToolTip(
            "Show each metric's forecast (damped Holt) with its 95% interval band"
        )

        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("dashboardPauseButton")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip(
            "Freeze the charts (then drag to pan and scroll to zoom); data keeps arriving"
        )
        self.pause_button.toggled.connect(
            lambda on: self.pause_button.setText("Resume" if on else "Pause")
        )

        self.frame_label = QLabel("", self)
        self.frame_label.setObjectName("dashboardFrameLabel")
        set_themed_style(self.frame_label, "color: #616e7c;")
        self.frame_label.setToolTip(
            "Charts on screen and the median time of one redraw (the charts are redrawn "
            "about ten times a second, only when something changed)"
        )

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.browser_button)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Window", self))
        layout.addWidget(self.window_combo)
        layout.addSpacing(4)
        layout.addWidget(self.forecast_check)
        layout.addWidget(self.pause_button)
        layout.addStretch(1)
        layout.addWidget(self.frame_label)

    def window_seconds(self) -> float | None:
        data = self.window_combo.currentData()
        return float(data) if isinstance(data, int | float) else None

    def set_window(self, name: str) -> None:
        index = self.window_combo.findText(name)
        if index < 0:
            raise ValueError(f"unknown window {name!r}; expected one of {list(WINDOWS)}")
        self.window_combo.setCurrentIndex(index)

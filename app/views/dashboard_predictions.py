"""PredictionStrip: the engine's failure predictions, newest first, above the charts."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from app.models.formatting import format_clock
from app.theme import set_themed_style
from chimera_engine.anomaly.engine import PredictiveAlert

#: Predictions listed in the strip (every one kept is in its tooltip).
SHOWN = 2
KEPT = 50
NONE_TEXT = "No failure predicted: no forecast crosses an alert threshold."


class PredictionStrip(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardPredictions")
        self._alerts: list[PredictiveAlert] = []  # newest first
        self.icon_label = QLabel("⚠", self)
        self.icon_label.setObjectName("predictionIcon")
        self.text_label = QLabel(NONE_TEXT, self)
        self.text_label.setObjectName("dashboardPredictionText")
        self.text_label.setTextFormat(Qt.TextFormat.PlainText)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text_label.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 5, 10, 5)
        layout.setSpacing(8)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text_label, 1)
        self._restyle()

    def messages(self) -> list[str]:
        """Every prediction kept, newest first, as the engine words it."""
        return [alert.message() for alert in self._alerts]

    def set_alerts(self, alerts: Iterable[PredictiveAlert]) -> None:
        """Replace the list (``alerts`` oldest first, as the engine keeps them)."""
        self._alerts = list(alerts)[::-1][:KEPT]
        self._restyle()

    def add(self, alert: PredictiveAlert) -> None:
        self._alerts.insert(0, alert)
        del self._alerts[KEPT:]
        self._restyle()

    def _restyle(self) -> None:
        active = bool(self._alerts)
        if active:
            lines = [f"{format_clock(a.t)}  {a.message()}" for a in self._alerts[:SHOWN]]
            more = len(self._alerts) - SHOWN
            if more > 0:
                lines[-1] += f"   (+{more} earlier)"
            self.text_label.setText("\n".join(lines))
            self.setToolTip("\n".join(f"{format_clock(a.t)}  {a.message()}" for a in self._alerts))
        else:
            self.text_label.setText(NONE_TEXT)
            self.setToolTip("")
        self.icon_label.setVisible(active)
        if active:
            set_themed_style(
                self,
                "QFrame#dashboardPredictions { background: #fffaeb; border: 1px solid #fedf89;"
                " border-radius: 6px; }"
                "QLabel { color: #93370d; } QLabel#predictionIcon { font-weight: 700; }",
            )
        else:
            set_themed_style(
                self,
                "QFrame#dashboardPredictions { background: #f8f9fb; border: 1px solid #e3e8ef;"
                " border-radius: 6px; } QLabel { color: #616e7c; }",
            )

"""PredictionStrip: the engine's standing failure predictions, newest first, above the charts.

Each line counts down to the crossing time fixed when the prediction was made
("at 14:05, in 3 min"), re-worded every :data:`TICK_MS`. A prediction leaves the
strip when the engine withdraws it (the metric recovered, the forecast no longer
crosses) or :data:`GRACE_S` after its time; a newer prediction of the same
crossing replaces the older one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from app.shared.formatting import format_clock
from app.theme import set_themed_style
from chimera_engine.anomaly.engine import PredictiveAlert

#: Predictions listed in the strip (every one kept is in its tooltip).
SHOWN = 2
KEPT = 50
#: How often the countdowns are re-worded (ms).
TICK_MS = 15_000
#: A prediction stays this long past its crossing time (s), unless withdrawn sooner.
GRACE_S = 120.0
NONE_TEXT = "No failure predicted: no forecast crosses an alert threshold."


class PredictionStrip(QFrame):
    def __init__(
        self, parent: QWidget | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardPredictions")
        self._clock = clock
        self._alerts: list[PredictiveAlert] = []  # newest first
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._restyle)
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
        """Every prediction standing, newest first, worded as of now."""
        now = self._clock()
        return [alert.message(now) for alert in self._alerts]

    def set_alerts(self, alerts: Iterable[PredictiveAlert]) -> None:
        """Replace the list (``alerts`` oldest first, as the engine keeps them)."""
        self._alerts = []
        for alert in alerts:
            self._put(alert)
        self._restyle()

    def add(self, alert: PredictiveAlert) -> None:
        self._put(alert)
        self._restyle()

    def withdraw(self, alert: PredictiveAlert, _reason: str = "") -> None:
        """The engine withdrew ``alert``: it leaves the strip (a newer one of the same
        crossing stays)."""
        self._alerts = [a for a in self._alerts if a != alert]
        self._restyle()

    def _put(self, alert: PredictiveAlert) -> None:
        self._alerts = [a for a in self._alerts if a.key != alert.key]
        self._alerts.insert(0, alert)
        del self._alerts[KEPT:]

    def _restyle(self) -> None:
        now = self._clock()
        self._alerts = [a for a in self._alerts if a.at + GRACE_S >= now]
        active = bool(self._alerts)
        if active:
            if not self._tick.isActive():
                self._tick.start()
            lines = [f"{format_clock(a.t)}  {a.message(now)}" for a in self._alerts[:SHOWN]]
            more = len(self._alerts) - SHOWN
            if more > 0:
                lines[-1] += f"   (+{more} earlier)"
            self.text_label.setText("\n".join(lines))
            self.setToolTip(
                "\n".join(f"{format_clock(a.t)}  {a.message(now)}" for a in self._alerts)
            )
        else:
            self._tick.stop()
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

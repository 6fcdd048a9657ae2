"""MetricChart: one dashboard tile - a header (metric, legend, last value, remove) over
a ChartPlot.

Signals: :attr:`removeRequested` (key) when the operator closes the tile,
:attr:`markerClicked` (anomaly id) when an anomaly marker is clicked and
:attr:`activated` (key) when the tile is clicked anywhere (it becomes the
chart the inspector shows). Header texts are only set when they change.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.panels.metrics.anomaly_kinds import kind_style
from app.panels.metrics.chart_plot import FORECAST, THRESHOLD, ChartPlot
from app.theme import set_themed_style

MIN_HEIGHT = 140


def short_title(key: str) -> str:
    """A metric key as a tile title: what it is about first (the tool, the agent), then
    the measure; it stays readable when the tile cuts its end.

    >>> short_title("tool.latency_ms{tool=parse_log}"), short_title("q{a=1,b=2}")
    ('parse_log · latency_ms', 'a=1, b=2 · q')
    >>> short_title("process.rss_mb")
    'process.rss_mb'
    """
    name, _, inner = key.partition("{")
    labels = [part for part in inner.rstrip("}").split(",") if part]
    if not labels:
        return name
    subject = labels[0].partition("=")[2] if len(labels) == 1 else ", ".join(labels)
    measure = name.split(".", 1)[1] if name.startswith(("tool.", "agent.")) else name
    return f"{subject} · {measure}"


def _swatch(colour: str, glyph: str, label: str) -> str:
    return f'<span style="color:{colour}">{glyph}</span>&nbsp;{label}'


class ElidedLabel(QLabel):
    """A one-line label that elides the end of its text when it is too narrow."""

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        text = metrics.elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.rect(), int(self.alignment()), text)
        painter.end()


class MetricChart(QFrame):
    removeRequested = Signal(str)
    markerClicked = Signal(int)
    activated = Signal(str)

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName("metricChart")
        self.setProperty("metricKey", key)
        self.setProperty("selected", False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumHeight(MIN_HEIGHT)
        set_themed_style(
            self,
            "QFrame#metricChart { background: #ffffff; border: 1px solid #d3d9e2;"
            " border-radius: 6px; }"
            'QFrame#metricChart[selected="true"] { border: 1px solid #2f6fed; }'
            "QLabel#chartTitle { font-weight: 600; color: #102a43; background: #ffffff; }"
            "QLabel#chartValue { color: #334e68; background: #ffffff; }"
            "QLabel#chartNote { color: #8a94a6; font-size: 8pt; background: #ffffff; }"
            "QLabel#chartLegend { color: #52606d; font-size: 8pt; background: #ffffff; }"
            "QToolButton#chartRemoveButton { border: none; color: #8a94a6; padding: 0 4px; }"
            "QToolButton#chartRemoveButton:hover { color: #b42318; }",
        )

        self.title_label = ElidedLabel(short_title(key), self)
        self.title_label.setObjectName("chartTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setToolTip(key)
        self.legend_label = QLabel("", self)
        self.legend_label.setObjectName("chartLegend")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.note_label = QLabel("", self)
        self.note_label.setObjectName("chartNote")
        self.value_label = QLabel("—", self)
        self.value_label.setObjectName("chartValue")
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # A fixed size: a new value repaints the label, with no relayout of the header.
        metrics = self.value_label.fontMetrics()
        self.value_label.setFixedSize(metrics.horizontalAdvance("-88,888.8"), metrics.height() + 4)
        for label in (self.title_label, self.note_label, self.value_label):
            label.setAutoFillBackground(True)
        self.remove_button = QToolButton(self)
        self.remove_button.setObjectName("chartRemoveButton")
        self.remove_button.setText("✕")
        self.remove_button.setToolTip(f"Remove the chart of {key} from the dashboard")
        self.remove_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.key))

        # Two lines: the title (tool first) with the value, then the legend and the note,
        # so a narrow tile keeps its title readable.
        title_row = QHBoxLayout()
        title_row.setContentsMargins(10, 6, 4, 0)
        title_row.setSpacing(8)
        title_row.addWidget(self.title_label, 1)
        title_row.addWidget(self.value_label)
        title_row.addWidget(self.remove_button)
        legend_row = QHBoxLayout()
        legend_row.setContentsMargins(10, 0, 4, 0)
        legend_row.setSpacing(8)
        legend_row.addWidget(self.legend_label)
        legend_row.addStretch(1)
        legend_row.addWidget(self.note_label)
        header = QVBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(0)
        header.addLayout(title_row)
        header.addLayout(legend_row)

        self.plot = ChartPlot(self.markerClicked.emit, self._legend_changed, self)
        self.plot.viewport().installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 4)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self._value = "—"
        self._note = ""

    def _legend_changed(self, entries: tuple[str, ...]) -> None:
        parts = []
        for entry in entries:
            if entry == "forecast":
                parts.append(_swatch(FORECAST, "╌╌", "Forecast"))
            elif entry == "threshold":
                parts.append(_swatch(THRESHOLD, "╌╌", "Threshold"))
            else:
                style = kind_style(entry)
                parts.append(_swatch(style.colour, "●", style.label))
        self.legend_label.setText("&nbsp;&nbsp;".join(parts))
        self.legend_label.setToolTip(
            "Markers: anomalies by kind (click one for its details). Forecast: the "
            "expected path with its 95% interval band. Threshold: an alert threshold "
            "the engine's forecasts watch."
            if entries
            else ""
        )

    def set_value_text(self, text: str) -> None:
        if text != self._value:
            self._value = text
            self.value_label.setText(text)

    def set_note(self, text: str, tooltip: str = "") -> None:
        """A short muted note beside the title (e.g. "warming up"), hidden when empty."""
        if text != self._note:
            self._note = text
            self.note_label.setText(text)
            self.note_label.setToolTip(tooltip)

    def set_selected(self, selected: bool) -> None:
        if bool(self.property("selected")) == selected:
            return
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress:
            self.activated.emit(self.key)
        return False

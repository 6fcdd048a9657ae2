"""MetricChart: one dashboard tile - a header (metric, last value, remove) over a ChartPlot.

Signals: :attr:`removeRequested` (key) when the operator closes the tile,
:attr:`markerClicked` (anomaly id) when an anomaly marker is clicked and
:attr:`activated` (key) when the tile is clicked anywhere (it becomes the
chart the inspector shows). Header texts are only set when they change.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.widgets.chart_plot import ChartPlot

MIN_HEIGHT = 150


class ElidedLabel(QLabel):
    """A one-line label that elides its text in the middle when it is too narrow."""

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        text = metrics.elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.width())
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
        self.setStyleSheet(
            "QFrame#metricChart { background: #ffffff; border: 1px solid #d3d9e2;"
            " border-radius: 6px; }"
            'QFrame#metricChart[selected="true"] { border: 1px solid #2f6fed; }'
            "QLabel#chartTitle { font-weight: 600; color: #102a43; background: #ffffff; }"
            "QLabel#chartValue { color: #334e68; background: #ffffff; }"
            "QLabel#chartNote { color: #8a94a6; font-size: 8pt; background: #ffffff; }"
            "QToolButton#chartRemoveButton { border: none; color: #8a94a6; padding: 0 4px; }"
            "QToolButton#chartRemoveButton:hover { color: #b42318; }"
        )

        self.title_label = ElidedLabel(key, self)
        self.title_label.setObjectName("chartTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setToolTip(key)
        self.note_label = QLabel("", self)
        self.note_label.setObjectName("chartNote")
        self.value_label = QLabel("—", self)
        self.value_label.setObjectName("chartValue")
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # A fixed width and opaque labels: a new value repaints the label alone, with no
        # relayout of the header and no repaint of the tile behind it (10 times a second).
        metrics = self.value_label.fontMetrics()
        self.value_label.setFixedSize(metrics.horizontalAdvance("-8,888,888"), metrics.height() + 4)
        for label in (self.title_label, self.note_label, self.value_label):
            label.setAutoFillBackground(True)
            label.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.remove_button = QToolButton(self)
        self.remove_button.setObjectName("chartRemoveButton")
        self.remove_button.setText("✕")
        self.remove_button.setToolTip(f"Remove the chart of {key} from the dashboard")
        self.remove_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.key))

        header = QHBoxLayout()
        header.setContentsMargins(10, 6, 4, 0)
        header.setSpacing(6)
        header.addWidget(self.title_label, 1)
        header.addWidget(self.note_label)
        header.addWidget(self.value_label)
        header.addWidget(self.remove_button)

        self.plot = ChartPlot(self.markerClicked.emit, self)
        self.plot.viewport().installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 4)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self._value = "—"
        self._note = ""

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

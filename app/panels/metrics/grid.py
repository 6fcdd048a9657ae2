"""ChartGrid: the dashboard's charts in a scrollable grid whose column count follows
its width; it knows which charts are on screen (only those are redrawn)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QWidget

from app.panels.metrics.chart import MetricChart
from app.theme import set_themed_style

#: A chart is never narrower than this many pixels (fewer columns instead).
MIN_CHART_WIDTH = 300
MAX_COLUMNS = 4
#: Low enough that two rows of three charts (six) fit the grid at 1280x800.
MIN_CHART_HEIGHT = 150
#: Pixels the grid scrolls per notch of the mouse wheel.
WHEEL_PX = 60


class ChartGrid(QScrollArea):
    """Signals re-emit the charts' own: :attr:`removeRequested` (key),
    :attr:`markerClicked` (anomaly id), :attr:`chartActivated` (key)."""

    removeRequested = Signal(str)
    markerClicked = Signal(int)
    chartActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardGrid")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._body = QWidget(self)
        self._body.setObjectName("dashboardGridBody")
        self._layout = QGridLayout(self._body)
        self._layout.setContentsMargins(0, 0, 4, 0)
        self._layout.setSpacing(8)
        self.setWidget(self._body)
        self.empty_label = QLabel(
            "No charts yet. Tick metrics in the browser on the left to chart them.", self._body
        )
        self.empty_label.setObjectName("dashboardEmptyLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        set_themed_style(self.empty_label, "color: #616e7c; padding: 40px;")
        self._charts: dict[str, MetricChart] = {}
        self._columns = 0
        self._height = MIN_CHART_HEIGHT
        self._relayout()

    # -- charts ----------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._charts)

    def chart(self, key: str) -> MetricChart | None:
        return self._charts.get(key)

    def charts(self) -> list[MetricChart]:
        return list(self._charts.values())

    def add_chart(self, key: str) -> MetricChart:
        existing = self._charts.get(key)
        if existing is not None:
            return existing
        chart = MetricChart(key, self._body)
        chart.setFixedHeight(self._height)
        chart.removeRequested.connect(self.removeRequested)
        chart.markerClicked.connect(self.markerClicked)
        chart.activated.connect(self.chartActivated)
        chart.plot.viewport().installEventFilter(self)
        self._charts[key] = chart
        self._relayout(force=True)
        return chart

    def order_first(self, first: set[str]) -> bool:
        """Move the charts whose key is in ``first`` to the front (keeping each group's
        order); True if the order changed."""
        keys = list(self._charts)
        ordered = [k for k in keys if k in first] + [k for k in keys if k not in first]
        if ordered == keys:
            return False
        self._charts = {k: self._charts[k] for k in ordered}
        self._relayout(force=True)
        return True

    def remove_chart(self, key: str) -> bool:
        chart = self._charts.pop(key, None)
        if chart is None:
            return False
        self._layout.removeWidget(chart)
        chart.hide()
        chart.deleteLater()
        self._relayout(force=True)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The wheel over a live chart scrolls the grid (a paused chart zooms instead)."""
        if event.type() == QEvent.Type.Wheel and isinstance(event, QWheelEvent):
            plot = watched.parent()
            if not getattr(plot, "interactive", False):
                bar = self.verticalScrollBar()
                pixels = event.pixelDelta().y()
                step = pixels if pixels else round(event.angleDelta().y() / 120 * WHEEL_PX)
                bar.setValue(bar.value() - step)
                return True
        return super().eventFilter(watched, event)

    def bring_into_view(self, key: str) -> bool:
        """Scroll so the chart of ``key`` is on screen; False if there is none."""
        chart = self._charts.get(key)
        if chart is None:
            return False
        self._layout.activate()  # after a reorder the geometry must be current
        self.ensureWidgetVisible(chart, 0, 8)
        return True

    def visible_charts(self) -> list[MetricChart]:
        """Charts at least partly on screen (none while the grid itself is hidden)."""
        if not self.isVisible():
            return []
        return [c for c in self._charts.values() if not c.visibleRegion().isEmpty()]

    def set_selected(self, key: str | None) -> None:
        for chart_key, chart in self._charts.items():
            chart.set_selected(chart_key == key)

    # -- layout ----------------------------------------------------------------------------
    def columns(self) -> int:
        return self._columns

    def _columns_for(self, width: int) -> int:
        return max(1, min(MAX_COLUMNS, width // MIN_CHART_WIDTH))

    def chart_height(self) -> int:
        """Charts are as tall as lets whole rows fill the visible height exactly."""
        height = self.viewport().height()
        spacing = self._layout.spacing()
        rows = max(1, (height + spacing) // (MIN_CHART_HEIGHT + spacing))
        return max(MIN_CHART_HEIGHT, (height - (rows - 1) * spacing) // rows)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def _relayout(self, force: bool = False) -> None:
        height = self.chart_height()
        if height != self._height:
            self._height = height
            for chart in self._charts.values():
                chart.setFixedHeight(height)
        columns = self._columns_for(self.viewport().width())
        if columns == self._columns and not force:
            return
        self._columns = columns
        while self._layout.count():
            self._layout.takeAt(0)
        self.empty_label.setVisible(not self._charts)
        if not self._charts:
            self._layout.addWidget(self.empty_label, 0, 0)
            return
        for i, chart in enumerate(self._charts.values()):
            self._layout.addWidget(chart, i // columns, i % columns)
        for column in range(MAX_COLUMNS):
            self._layout.setColumnStretch(column, 1 if column < columns else 0)
        rows = (len(self._charts) + columns - 1) // columns
        for row in range(rows + 1):
            self._layout.setRowStretch(row, 0)
        self._layout.setRowStretch(rows, 1)  # leftover height below the last row

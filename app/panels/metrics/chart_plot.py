"""ChartPlot: the pyqtgraph part of one dashboard chart.

Two stacked plots sharing one time axis (epoch seconds, shown as clock time):
the metric itself - raw series, forecast with its interval band, dashed
threshold lines, anomaly markers coloured by kind - and below it a thin strip
of how many anomalies fell in each slice of the window. What the legend must
list is reported through ``on_legend`` (the tile shows it in its header, where
it never covers data).

Nothing here decides *when* to draw: the dashboard's renderer calls the
``set_*`` methods at most once per frame, and only with what changed. Every
setter is cheap when called with what is already shown. Mouse interaction is
off while live (:meth:`set_interactive` turns pan/zoom on, e.g. when paused).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from app.panels.metrics.anomalies_model import AnomalyRecord
from app.panels.metrics.anomaly_kinds import KINDS
from app.theme import current_theme, themed
from chimera_engine.anomaly.forecast import Forecast

Array = npt.NDArray[np.float64]

# Colours for the light theme; the dark theme shows app.theme.themed() of each.
LINE = "#334e68"
FORECAST = "#0e9384"
THRESHOLD = "#b42318"
AXIS = "#c5ccd6"
AXIS_TEXT = "#616e7c"
STRIP = "#f04438"
BACKGROUND = "#ffffff"
NOW_LINE = "#9aa5b1"
LEFT_AXIS_PX = 46
STRIP_PX = 12
MARKER_PX = 9


def _dashed(colour: str, width: float = 1.0) -> QPen:
    pen: QPen = pg.mkPen(themed(colour), width=width)
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setCosmetic(True)
    return pen


def _colour_axis(axis: Any) -> None:
    axis.setPen(pg.mkPen(themed(AXIS)))
    axis.setTextPen(pg.mkPen(themed(AXIS_TEXT)))


def _style_axis(axis: Any, font: QFont) -> None:
    _colour_axis(axis)
    axis.setStyle(tickFont=font, tickLength=-4, tickTextOffset=3, autoExpandTextSpace=False)


class ChartPlot(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """``on_marker(anomaly_id)`` is called when the operator clicks a marker,
    ``on_legend(entries)`` when the legend's entries change (anomaly kinds,
    ``"forecast"``, ``"threshold"``)."""

    _theme: str | None = None  # the theme the colours were made for (set once built)

    def __init__(
        self,
        on_marker: Callable[[int], None] | None = None,
        on_legend: Callable[[tuple[str, ...]], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent)
        self._on_legend = on_legend
        self._theme = current_theme()
        self.setBackground(themed(BACKGROUND))
        # The view paints its whole background: Qt need not repaint the tile behind it.
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setObjectName("chartPlot")
        self._on_marker = on_marker
        self.paint_seconds = 0.0  # total time spent painting (for the benchmark)
        self.ci.layout.setContentsMargins(0, 2, 6, 0)
        self.ci.layout.setSpacing(0)
        font = QFont(self.font())
        font.setPointSizeF(7.5)

        self.main = self.addPlot(row=0, col=0)
        self.strip = self.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()})
        for plot in (self.main, self.strip):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            plot.disableAutoRange()
            plot.getViewBox().setDefaultPadding(0.0)
            plot.layout.setContentsMargins(0, 0, 0, 0)
            left = plot.getAxis("left")
            left.setWidth(LEFT_AXIS_PX)
            _style_axis(left, font)
        for plot in (self.main, self.strip):
            for name in ("left", "bottom", "top", "right"):
                # Otherwise every range change rewrites the axis label (setHtml), hidden or not.
                plot.getAxis(name).enableAutoSIPrefix(False)
        self.main.hideAxis("bottom")
        _style_axis(self.strip.getAxis("bottom"), font)
        self.strip.getAxis("bottom").setHeight(18)
        self.strip.getAxis("left").setStyle(showValues=False, tickLength=0)
        self.strip.setXLink(self.main)
        self.strip.setYRange(0.0, 1.0, padding=0.0)
        self.ci.layout.setRowStretchFactor(0, 1)
        self.ci.layout.setRowStretchFactor(1, 0)
        self.strip.setFixedHeight(STRIP_PX + 18)

        self.curve = pg.PlotDataItem(
            pen=pg.mkPen(themed(LINE), width=1.0), antialias=True, autoDownsampleFactor=1.0
        )
        self.band_lo = pg.PlotCurveItem(pen=pg.mkPen(FORECAST + "55", width=1))
        self.band_hi = pg.PlotCurveItem(pen=pg.mkPen(FORECAST + "55", width=1))
        self.band = pg.FillBetweenItem(self.band_lo, self.band_hi, brush=QColor(14, 147, 132, 40))
        self.mean = pg.PlotCurveItem(pen=_dashed(FORECAST, 1.0), antialias=True)
        self.now_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(themed(NOW_LINE), style=Qt.PenStyle.DotLine)
        )
        for item in (self.band, self.band_lo, self.band_hi, self.mean, self.now_line, self.curve):
            self.main.addItem(item)
        # After addItem: PlotItem.addItem applies the plot's own (off) settings to the curve.
        # About one sample per pixel ("peak" keeps every extreme), only the visible part.
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self._forecast_shown = False
        self._set_forecast_visible(False)

        self._thresholds: list[float] = []
        self._threshold_lines: list[Any] = []
        self.markers: dict[str, Any] = {}
        for kind, style in KINDS.items():
            scatter = pg.ScatterPlotItem(
                size=MARKER_PX,
                pen=pg.mkPen(themed(BACKGROUND), width=1.2),
                brush=pg.mkBrush(style.colour),
                hoverable=True,
                hoverSize=MARKER_PX + 4,
                tip=self._tip,
                name=style.label,
            )
            scatter.setZValue(10)
            scatter.sigClicked.connect(self._clicked)
            self.main.addItem(scatter)
            self.markers[kind] = scatter
        self._marker_records: dict[int, AnomalyRecord] = {}
        #: What each kind's markers show, (id, t, value) each: unchanged ones are not reset.
        self._marker_shown: dict[str, tuple[tuple[int, float, float], ...]] = {}
        self._rate_empty = True

        self._legend_entries: tuple[str, ...] = ()

        self.rate = pg.BarGraphItem(x0=[], x1=[], height=[], brush=STRIP + "cc", pen=None)
        self.strip.addItem(self.rate)

    # -- data ------------------------------------------------------------------------------
    def set_series(self, ts: Array, vs: Array) -> None:
        self.curve.setData(ts, vs)

    def set_ranges(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.main.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0, update=True)
        self._apply_view()

    def _apply_view(self) -> None:
        """Apply a range change at once. pyqtgraph defers it to the start of the next
        paint, where the items it moves (the clipped, downsampled curve, the axes) change
        again and ask for a second paint: every moved chart was painted twice."""
        for plot in (self.main, self.strip):
            plot.getViewBox().prepareForPaint()

    def set_forecast(self, forecast: Forecast | None, last_t: float | None) -> None:
        if forecast is None or last_t is None or len(forecast.t) == 0:
            self._set_forecast_visible(False)
            return
        self.band_lo.setData(forecast.t, forecast.lower)
        self.band_hi.setData(forecast.t, forecast.upper)
        self.mean.setData(forecast.t, forecast.mean)
        self.now_line.setValue(last_t)
        self._set_forecast_visible(True)

    def _set_forecast_visible(self, shown: bool) -> None:
        for item in (self.band, self.band_lo, self.band_hi, self.mean, self.now_line):
            item.setVisible(shown)
        self._forecast_shown = shown

    @property
    def forecast_shown(self) -> bool:
        return self._forecast_shown

    def set_thresholds(self, values: Sequence[float]) -> None:
        values = list(values)
        if values == self._thresholds:
            return
        self._thresholds = values
        for line in self._threshold_lines:
            self.main.removeItem(line)
        self._threshold_lines = []
        for value in values:
            line = pg.InfiniteLine(
                pos=value,
                angle=0,
                pen=_dashed(THRESHOLD, 1.0),
                label=f"threshold {value:g}",
                labelOpts={
                    "position": 0.5,
                    "color": themed(THRESHOLD),
                    "anchors": [(0.5, 0), (0.5, 0)],
                },
            )
            line.label.setFont(QFont(self.font().family(), 7))
            line.setZValue(5)
            self.main.addItem(line)
            self._threshold_lines.append(line)
        self._update_legend()

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def set_markers(self, records: Sequence[AnomalyRecord]) -> None:
        """Show ``records`` as markers at (time, value), one colour per kind."""
        self._marker_records = {r.id: r for r in records}
        for kind, scatter in self.markers.items():
            mine = [r for r in records if r.kind == kind]
            shown = tuple((r.id, r.t, r.value) for r in mine)
            if shown == self._marker_shown.get(kind, ()) and kind in self._marker_shown:
                continue  # (the window moved, these markers did not change: no repaint)
            self._marker_shown[kind] = shown
            scatter.setData(
                x=[r.t for r in mine], y=[r.value for r in mine], data=[r.id for r in mine]
            )
        self._update_legend()

    def marker_ids(self) -> list[int]:
        return sorted(self._marker_records)

    def set_rate(self, edges: Array, counts: Array) -> None:
        """Anomalies per slice of the window: ``counts[i]`` between ``edges[i]`` and ``[i+1]``."""
        empty = not counts.any()
        if empty and self._rate_empty:
            return  # no bar before, none now: where the empty slices lie shows nothing
        self._rate_empty = empty
        self.rate.setOpts(x0=edges[:-1], x1=edges[1:], height=counts)
        top = float(counts.max()) if len(counts) else 0.0
        self.strip.setYRange(0.0, max(1.0, top), padding=0.0)
        self._apply_view()

    def set_interactive(self, on: bool) -> None:
        self.main.setMouseEnabled(x=on, y=on)
        self.interactive = on

    interactive = False  # True: the wheel zooms this chart (paused dashboard)

    # -- legend, markers -------------------------------------------------------------------
    def _update_legend(self) -> None:
        kinds = {r.kind for r in self._marker_records.values()}
        entries = tuple(k for k in KINDS if k in kinds)
        if self._forecast_shown:
            entries += ("forecast",)
        if self._thresholds:
            entries += ("threshold",)
        if entries == self._legend_entries:
            return
        self._legend_entries = entries
        if self._on_legend is not None:
            self._on_legend(entries)

    @property
    def legend_entries(self) -> tuple[str, ...]:
        return self._legend_entries

    def refresh_legend(self) -> None:
        """Re-list the legend after the forecast appeared or went away."""
        self._update_legend()

    def _tip(self, x: float, y: float, data: Any) -> str:
        record = self._marker_records.get(int(data)) if data is not None else None
        return record.describe() if record is not None else ""

    def _clicked(self, _item: Any, points: Any, _event: Any) -> None:
        if self._on_marker is None or len(points) == 0:
            return
        data = points[0].data()
        if data is not None:
            self._on_marker(int(data))

    def marker_scene_pos(self, anomaly_id: int) -> Any:
        """Where the marker of ``anomaly_id`` is, in view (widget) coordinates (tests)."""
        record = self._marker_records[anomaly_id]
        scene = self.main.getViewBox().mapViewToScene(pg.Point(record.t, record.value))
        return self.mapFromScene(scene)

    # -- theme -----------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._theme not in (None, current_theme()):
            self._theme = current_theme()
            self.recolour()

    def recolour(self) -> None:
        """Re-apply every colour for the theme in force (after a light/dark switch)."""
        self.setBackground(themed(BACKGROUND))
        for plot in (self.main, self.strip):
            for name in ("left", "bottom"):
                _colour_axis(plot.getAxis(name))
        self.curve.setPen(pg.mkPen(themed(LINE), width=1.0))
        self.mean.setPen(_dashed(FORECAST, 1.0))
        self.now_line.setPen(pg.mkPen(themed(NOW_LINE), style=Qt.PenStyle.DotLine))
        for scatter in self.markers.values():
            scatter.setPen(pg.mkPen(themed(BACKGROUND), width=1.2))
        thresholds, self._thresholds = self._thresholds, []
        self.set_thresholds(thresholds)

    # -- paint timing ----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        start = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - start

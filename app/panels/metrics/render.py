"""ChartRenderer: what each visible chart shows, recomputed once per frame at most.

The dashboard calls :meth:`ChartRenderer.draw` from a ~10 Hz timer. Per chart
it only touches pyqtgraph when something changed: the series when the buffer
has new samples, the time range when it moved by at least a pixel, markers
and the anomaly-rate strip when the chart's anomalies (or its sensitivity, or
the window's slice boundaries) changed, the value range with some hysteresis
so the axes stay calm. Forecasts cost a model fit (1-2 ms), so at most
:data:`FORECASTS_PER_FRAME` are refreshed per frame, each chart at most every
:data:`FORECAST_EVERY_S` seconds and only after new data.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Container, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from app.panels.metrics.anomalies_model import AnomalyRecord, AnomalyTableModel, format_value
from app.panels.metrics.chart import MetricChart
from app.shared.metric_source import FORECAST_FRACTION, Array, MetricSource, Revision
from chimera_engine.anomaly.forecast import Forecast

#: Seconds shown by each choice of the window selector (None: the whole buffer).
WINDOWS: dict[str, float | None] = {"Last 5 min": 300.0, "Last 1 h": 3600.0, "Whole buffer": None}
FORECAST_EVERY_S = 5.0
#: ... or a little sooner for a chart that is being redrawn with new samples anyway.
FORECAST_SLACK_S = 1.0
#: The time axis moves in steps of this many pixels: each step re-lays out the axes and
#: repaints every chart, the main idle cost of a live board.
X_STEP_PX = 4
FORECASTS_PER_FRAME = 1
#: Without new samples a chart's time axis moves only by this fraction of its window at
#: once: a board with nothing new (the demo paused) repaints a chart every few seconds,
#: not every few pixels.
IDLE_SLIDE = 0.05
RATE_SLICES = 60
#: The latest value in a chart's header changes at most this often (seconds).
VALUE_EVERY_S = 0.5
#: The engine raises anomalies from this score up (EnsembleConfig.alert_threshold).
DEFAULT_MIN_SCORE = 0.6


@dataclass
class ChartState:
    revision: Revision | None = None
    window: float | None = -1.0
    forecast_enabled: bool = True
    data_lo: float = math.nan
    data_hi: float = math.nan
    last_t: float | None = None
    last_v: float = math.nan
    forecast: Forecast | None = None
    forecast_at: float = -math.inf
    forecast_revision: Revision | None = None
    marker_key: tuple[int, float, float] | None = None
    markers: list[AnomalyRecord] = field(default_factory=list)
    x_range: tuple[float, float] = (0.0, 0.0)
    y_range: tuple[float, float] = (0.0, 0.0)
    thresholds: list[float] = field(default_factory=list)
    value_at: float = -math.inf
    x_end: float = -math.inf


class ChartRenderer:
    def __init__(self, source: MetricSource, anomalies: AnomalyTableModel) -> None:
        self.source = source
        self.anomalies = anomalies
        self.window: float | None = 300.0
        self.forecasts = True
        self.min_scores: dict[str, float] = {}
        self._states: dict[str, ChartState] = {}
        #: Charts drawn with new samples since the renderer was made (the dashboard
        #: slows its redraw timer while this stays the same).
        self.updates = 0
        #: Forecasts refreshed per :meth:`draw` at most (a quiet board allows more: the
        #: few due then are drawn in the frame of their samples, not one paint each).
        self.forecasts_per_frame = FORECASTS_PER_FRAME

    # -- settings --------------------------------------------------------------------------
    def min_score(self, key: str) -> float:
        return self.min_scores.get(key, DEFAULT_MIN_SCORE)

    def set_min_score(self, key: str, score: float) -> None:
        self.min_scores[key] = score

    def invalidate(self) -> None:
        """Redraw everything on the next frame (after a settings change or a pause)."""
        self._states.clear()

    def forget(self, key: str) -> None:
        self._states.pop(key, None)

    def state(self, key: str) -> ChartState | None:
        return self._states.get(key)

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, charts: Iterable[MetricChart], now: float | None = None) -> None:
        """Bring every chart of ``charts`` (the visible ones) up to date."""
        now = time.time() if now is None else now
        charts = list(charts)
        updates = self.updates
        fresh: set[str] = set()
        for chart in charts:
            state = self._states.setdefault(chart.key, ChartState())
            self._draw(chart, state, now)
            if self.updates != updates:
                updates = self.updates
                fresh.add(chart.key)
        self._refresh_forecasts(charts, now, fresh)

    def _draw(self, chart: MetricChart, st: ChartState, now: float) -> None:
        key = chart.key
        revision = self.source.revision(key)
        if revision is None or revision.samples == 0:
            chart.set_note("no data yet")
            return
        settings_changed = st.window != self.window or st.forecast_enabled != self.forecasts
        if settings_changed:
            st.window, st.forecast_enabled = self.window, self.forecasts
            st.forecast_at = -math.inf
            if not self.forecasts:
                st.forecast = None
                chart.plot.set_forecast(None, None)
                chart.plot.refresh_legend()
        x0, x1 = self._x_window(key, now, chart.plot.width())
        fresh = revision != st.revision or settings_changed
        if not fresh and x1 - st.x_end < (x1 - x0) * IDLE_SLIDE:
            x0, x1 = st.x_end - (x1 - x0), st.x_end  # nothing new: the axis stays put
        st.x_end = x1
        if fresh:
            self.updates += 1
            since = -math.inf if self.window is None else x0 - (x1 - x0) / 100
            ts, vs = self.source.window(key, since)
            chart.plot.set_series(ts, vs)
            st.revision = revision
            self._data_bounds(st, vs)
            st.last_t = float(ts[-1]) if len(ts) else None
            st.last_v = float(vs[-1]) if len(vs) else math.nan
            if now - st.value_at >= VALUE_EVERY_S or settings_changed:  # readable, and cheap
                st.value_at = now
                chart.set_value_text(format_value(float(vs[-1])) if len(vs) else "—")
            st.thresholds = self.source.thresholds(key)
            chart.plot.set_thresholds(st.thresholds)
        ahead = (x1 - x0) * FORECAST_FRACTION if self.forecasts else 0.0
        self._markers(chart, st, x0, x1 + ahead)
        x_range = (x0, x1 + ahead)
        y_range = self._y_range(st, chart.key)
        if x_range != st.x_range or y_range != st.y_range:
            st.x_range, st.y_range = x_range, y_range
            chart.plot.set_ranges(*x_range, *y_range)
        chart.set_note(*self._note(st, y_range, revision))

    def _x_window(self, key: str, now: float, width_px: int) -> tuple[float, float]:
        """The shown time span, its end moved in whole pixels so idle frames draw nothing."""
        if self.window is None:
            span = self.source.span(key) or (now - 60.0, now)
            return span[0], max(span[1], span[0] + 10.0)
        quantum = self.window / max(100, width_px) * X_STEP_PX
        # Each chart steps at its own moments (a fixed phase per metric): shifting every
        # chart's axes in the same frame would make that frame a long one.
        phase = (zlib.crc32(key.encode()) % 1000) / 1000 * quantum
        x1 = math.ceil((now - phase) / quantum) * quantum + phase
        return x1 - self.window, x1

    @staticmethod
    def _data_bounds(st: ChartState, vs: Array) -> None:
        finite = vs[np.isfinite(vs)] if len(vs) else vs
        if len(finite):
            st.data_lo, st.data_hi = float(finite.min()), float(finite.max())
        else:
            st.data_lo = st.data_hi = math.nan

    def _y_range(self, st: ChartState, key: str = "") -> tuple[float, float]:
        bounds = ratio_bounds(key)
        if bounds is not None and bounds[1] <= 1.0:
            return 0.0, 1.0  # a ratio: always its whole scale, never a negative axis
        lo, hi = st.data_lo, st.data_hi
        if math.isnan(lo):
            return st.y_range if st.y_range != (0.0, 0.0) else (0.0, 1.0)
        span = max(hi - lo, abs(hi) * 0.02, 1e-9)
        if st.forecast is not None:  # a wide band may widen the view only so much
            lo = max(min(lo, float(np.min(st.forecast.lower))), lo - 0.5 * span)
            hi = min(max(hi, float(np.max(st.forecast.upper))), hi + 0.5 * span)
        for threshold in st.thresholds:
            if st.data_lo - span <= threshold <= st.data_hi + 1.5 * span:
                lo, hi = min(lo, threshold), max(hi, threshold)
        pad = 0.1 * max(hi - lo, span)
        want = (lo - pad, hi + pad)
        if st.data_lo >= 0.0:  # a metric that never went negative gets no negative axis
            want = (max(0.0, want[0]), want[1])
            if want[1] - want[0] < 1e-6:
                want = (0.0, 1.0)
        y0, y1 = st.y_range
        inside = y0 <= lo and hi <= y1
        if inside and (y1 - y0) <= 1.6 * (want[1] - want[0]):
            return st.y_range  # calm axes: keep the range while it still fits well
        return want

    @staticmethod
    def _note(st: ChartState, y_range: tuple[float, float], rev: Revision) -> tuple[str, str]:
        if rev.samples < 30:
            return "warming up", "Fewer than 30 samples: the engine raises no anomaly yet"
        above = [t for t in st.thresholds if t > y_range[1]]
        below = [t for t in st.thresholds if t < y_range[0]]
        if above:
            return f"threshold {min(above):g} ↑", "The alert threshold is above the shown range"
        if below:
            return f"threshold {max(below):g} ↓", "The alert threshold is below the shown range"
        return "", ""

    # -- markers and the anomaly-rate strip ----------------------------------------------------
    def _markers(self, chart: MetricChart, st: ChartState, x0: float, x1: float) -> None:
        key = chart.key
        slice_s = (x1 - x0) / RATE_SLICES
        first = math.floor(x0 / slice_s) * slice_s
        marker_key = (self.anomalies.revision(key), self.min_score(key), round(first, 6))
        if marker_key == st.marker_key:
            return
        st.marker_key = marker_key
        threshold = self.min_score(key)
        shown = [r for r in self.anomalies.for_metric(key) if r.score >= threshold and r.t >= first]
        st.markers = shown
        chart.plot.set_markers(shown)
        edges = first + slice_s * np.arange(RATE_SLICES + 2, dtype=np.float64)
        times = np.fromiter((r.t for r in shown), dtype=np.float64, count=len(shown))
        counts, _ = np.histogram(times, bins=edges)
        chart.plot.set_rate(edges, counts.astype(np.float64))

    # -- forecasts -------------------------------------------------------------------------
    def _refresh_forecasts(
        self, charts: list[MetricChart], now: float, fresh: Container[str] = ()
    ) -> None:
        if not self.forecasts:
            return
        due: list[tuple[float, MetricChart, ChartState]] = []
        for chart in charts:
            st = self._states[chart.key]
            if st.revision is None or st.revision == st.forecast_revision:
                continue
            # A chart redrawn with new samples now takes a forecast nearly due along: one
            # paint for both, not a second one a frame later.
            slack = FORECAST_SLACK_S if chart.key in fresh else 0.0
            if now - st.forecast_at >= FORECAST_EVERY_S - slack:
                due.append((st.forecast_at, chart, st))
        due.sort(key=lambda item: item[0])
        for _, chart, st in due[: self.forecasts_per_frame]:
            x0, x1 = st.x_range
            width = (x1 - x0) / (1.0 + FORECAST_FRACTION) if x1 > x0 else 300.0
            st.forecast = _clipped(
                anchored(self.source.forecast(chart.key, width * FORECAST_FRACTION), st.last_v),
                st.data_lo,
                ratio_bounds(chart.key),
            )
            st.forecast_at, st.forecast_revision = now, st.revision
            chart.plot.set_forecast(st.forecast, st.last_t)
            chart.plot.refresh_legend()
            y_range = self._y_range(st, chart.key)
            if y_range != st.y_range:
                st.y_range = y_range
                chart.plot.set_ranges(*st.x_range, *y_range)


#: Metric names (the part before ``{``) whose values are ratios, and their scale.
RATIO_SUFFIXES: dict[str, tuple[float, float]] = {
    "error_rate": (0.0, 1.0),
    "confidence": (0.0, 1.0),
    "success_rate": (0.0, 1.0),
    "ratio": (0.0, 1.0),
    "_percent": (0.0, 100.0),
}


def ratio_bounds(key: str) -> tuple[float, float] | None:
    """The scale of a ratio metric (None: not a ratio).

    >>> ratio_bounds("tool.error_rate{tool=a}"), ratio_bounds("host.cpu_percent")
    ((0.0, 1.0), (0.0, 100.0))
    >>> ratio_bounds("tool.latency_ms{tool=a}") is None
    True
    """
    name = key.partition("{")[0]
    for suffix, bounds in RATIO_SUFFIXES.items():
        if name.endswith(suffix):
            return bounds
    return None


def anchored(forecast: Forecast | None, last_value: float) -> Forecast | None:
    """The forecast shifted so it starts at the last sample (a smoothed model's level can
    lag a series that just moved: the line must not start somewhere else)."""
    if forecast is None or not len(forecast.mean) or not math.isfinite(last_value):
        return forecast
    offset = last_value - float(forecast.mean[0])
    return replace(
        forecast,
        mean=forecast.mean + offset,
        lower=forecast.lower + offset,
        upper=forecast.upper + offset,
    )


def _clipped(
    forecast: Forecast | None, data_lo: float, bounds: tuple[float, float] | None = None
) -> Forecast | None:
    """A metric that never went negative is not forecast to: clip the band at 0; a
    ratio stays within its scale (an error rate above 100 % does not exist)."""
    if forecast is None or (not data_lo >= 0.0 and bounds is None):
        return forecast
    lo = 0.0 if bounds is None else bounds[0]
    hi = math.inf if bounds is None or bounds[1] > 1.0 else bounds[1]
    return replace(
        forecast,
        mean=np.clip(forecast.mean, lo, hi),
        lower=np.clip(forecast.lower, lo, hi),
        upper=np.clip(forecast.upper, lo, hi),
    )

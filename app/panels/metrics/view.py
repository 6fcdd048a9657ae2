"""The Dashboard panel: live charts of the engine's metrics, anomalies and predictions.

Top: the toolbar and the failure predictions. Middle: the metric browser beside
a grid of charts (raw series, anomaly markers by kind, forecast band, dashed
thresholds, an anomaly-rate strip). Bottom: the anomalies list with Acknowledge
beside the inspector (selected chart, its sensitivity, the clicked anomaly).

Redraws are paced by the screen, never by the data: a timer redraws the visible
charts from the engine's ring buffers (:mod:`app.panels.metrics.render`), and only
while the panel is shown and not paused: five frames a second (a group of charts per
tick) while samples come steadily, one whole frame a second while the board is quiet
(the demo paused: only the engine's own process metrics, every two seconds). Engine
events (anomalies, acknowledgements, predictions) update models; the charts pick them
up on the next frame. Import this module lazily: it pulls in pyqtgraph and numpy.
"""

from __future__ import annotations

import gc
import math
import re
import statistics
import time
from collections import deque

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from app.bridge import EngineBridge
from app.panels.metrics.anomalies import AnomaliesPane
from app.panels.metrics.anomalies_model import AnomalyRecord, AnomalyTableModel
from app.panels.metrics.browser import MetricBrowser
from app.panels.metrics.chart import MetricChart
from app.panels.metrics.grid import ChartGrid
from app.panels.metrics.inspector import ChartInspector
from app.panels.metrics.metric_list import STATE_TEXT
from app.panels.metrics.predictions import PredictionStrip
from app.panels.metrics.render import FORECASTS_PER_FRAME, ChartRenderer
from app.panels.metrics.settings import MetricSettingsEditor
from app.panels.metrics.toolbar import DashboardToolbar
from app.shared.metric_source import MetricSource
from app.widgets.tables import RowAnchor
from chimera_engine.security.manager import Session

#: Every visible chart is redrawn (when something changed) this many times a second...
REDRAW_HZ = 5.0
#: ... a group at a time: the visible charts are split into this many groups and the
#: timer redraws one group per tick, so no single loop iteration paints them all.
SLICES = 4
METRICS_REFRESH_MS = 1000
#: A quiet board (a whole frame found no new sample) draws every visible chart at once,
#: this often: one wake-up and one paint pass a second, however many charts are shown.
IDLE_FRAME_MS = 1000
#: Quiet frames in a row that found new samples before the board takes up the fast pace
#: again (samples every second or more often); a slow trickle (the engine's own process
#: metrics every two seconds) is drawn at the quiet pace, within a second.
WAKE_FRAMES = 2
#: Forecasts a quiet frame may refresh (those of the charts its new samples reached).
QUIET_FORECASTS = 4
MAX_DEFAULT_CHARTS = 12
#: Charted by default (in this order, per tool) until :data:`MAX_DEFAULT_CHARTS`.
DEFAULT_METRICS = (
    r"process\.cpu_percent",
    r"process\.rss_mb",
    r"tool\.latency_ms\{.*",
    r"tool\.error_rate\{.*",
    r"tool\.confidence\{.*",
)


def default_rank(key: str) -> tuple[int, str, int] | None:
    """Sort key of a metric charted by default (None: not one of them)."""
    for i, pattern in enumerate(DEFAULT_METRICS):
        if re.fullmatch(pattern, key):
            group = 0 if key.startswith("process.") else 1
            labels = key.partition("{")[2]
            return group, labels, i
    return None


def incident_first(
    rank: tuple[int, str, int], key: str, troubled: set[str]
) -> tuple[int, int, str, int]:
    """Sort key: the charts of a tool (labels) with an open anomaly come first.

    >>> incident_first((1, "tool=b}", 2), "tool.x{tool=b}", {"tool=b}"})
    (0, 1, 'tool=b}', 2)
    """
    labels = key.partition("{")[2]
    return (0 if labels in troubled else 1, *rank)


class DashboardPanel(QWidget):
    """:attr:`chartsChanged` (keys) after charts were added or removed;
    :attr:`anomaliesLoaded` (rows) after the engine's anomaly list was read."""

    chartsChanged = Signal(list)
    anomaliesLoaded = Signal(int)

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        redraw_hz: float = REDRAW_HZ,
        max_default_charts: int = MAX_DEFAULT_CHARTS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardPanel")
        self._bridge = bridge
        self.max_default_charts = max_default_charts
        self._removed: set[str] = set()
        self.source = MetricSource(bridge.metrics.live)
        self.anomaly_model = AnomalyTableModel(parent=self)
        self.renderer = ChartRenderer(self.source, self.anomaly_model)
        engine_threshold = bridge.metrics.live.alert_threshold

        self.toolbar = DashboardToolbar(self)
        self.predictions = PredictionStrip(self)
        self.browser = MetricBrowser(self)
        self.grid = ChartGrid(self)
        self.anomalies = AnomaliesPane(bridge, self.anomaly_model, self)
        self.inspector = ChartInspector(engine_threshold, self)
        self.settings_editor = MetricSettingsEditor(bridge, self)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.top_splitter.setObjectName("dashboardTopSplitter")
        self.top_splitter.addWidget(self.browser)
        self.top_splitter.addWidget(self.grid)
        self.top_splitter.setStretchFactor(1, 1)
        self.top_splitter.setSizes([290, 970])
        bottom = QWidget(self)
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.setSpacing(10)
        bottom_layout.addWidget(self.anomalies, 1)
        bottom_layout.addWidget(self.settings_editor)
        bottom_layout.addWidget(self.inspector)
        self.settings_editor.setFixedWidth(265)
        self.inspector.setFixedWidth(300)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("dashboardSplitter")
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([450, 190])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 8)
        layout.setSpacing(8)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.predictions)
        layout.addWidget(self.splitter, 1)

        self.redraw_timer = QTimer(self)
        self._tick_ms = max(1, round(1000 / (redraw_hz * SLICES)))
        self.redraw_timer.setInterval(self._tick_ms)
        self._updates_seen = 0
        self._quiet = False
        self._fresh_frames = 0
        self._caption_counts = (-1, -1, -1)
        self.redraw_timer.timeout.connect(self.redraw)
        self.metrics_timer = QTimer(self)
        self.metrics_timer.setInterval(METRICS_REFRESH_MS)
        self.metrics_timer.timeout.connect(self.refresh_metrics)
        self._metrics_at = -math.inf
        self._phase = 0
        self._frames = 0
        self._frame_ms = 0.0
        self._settled = False
        self._chart_queue: list[str] = []
        self._chart_timer = QTimer(self)
        self._chart_timer.setInterval(0)
        self._chart_timer.timeout.connect(self._add_queued_chart)
        self.frame_ms: deque[float] = deque(maxlen=200)  # whole frames: every group once

        tb = self.toolbar
        tb.browser_button.toggled.connect(self.browser.setVisible)
        tb.window_combo.currentIndexChanged.connect(self._settings_changed)
        tb.forecast_check.toggled.connect(self._settings_changed)
        tb.pause_button.toggled.connect(self.set_paused)
        self.browser.chartToggled.connect(self.set_charted)
        self.grid.removeRequested.connect(lambda key: self.set_charted(key, False))
        self.grid.markerClicked.connect(self.show_anomaly)
        self.grid.chartActivated.connect(self.select_chart)
        self.anomalies.anomalySelected.connect(self.inspector.show_anomaly)
        self.anomalies.anomalySelected.connect(self.bring_chart_of)
        self.anomaly_anchor = RowAnchor(self.anomalies.table)  # new rows: nothing moves
        self.inspector.minScoreChanged.connect(self.renderer.set_min_score)
        self.anomalies.loaded.connect(self.anomaliesLoaded)
        self.settings_editor.applied.connect(self._settings_applied)
        self.anomalies.recordUpdated.connect(self._anomaly_updated)
        bridge.failurePredicted.connect(self.predictions.add)
        bridge.predictionWithdrawn.connect(self.predictions.withdraw)
        bridge.sessionChanged.connect(self._session_changed)

        self.predictions.set_alerts(self.source.predictions())
        self.refresh_metrics()
        self.anomalies.load()

    # -- charts ----------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.toolbar.pause_button.isChecked()

    def chart(self, key: str) -> MetricChart | None:
        return self.grid.chart(key)

    def chart_keys(self) -> list[str]:
        return self.grid.keys()

    def set_charted(self, key: str, charted: bool) -> None:
        """Add (``charted``) or remove the chart of ``key``."""
        if charted:
            self._removed.discard(key)
            if self.grid.chart(key) is not None:
                return
            chart = self.grid.add_chart(key)
            chart.plot.set_interactive(self.paused)
        else:
            self._removed.add(key)
            if not self.grid.remove_chart(key):
                return
            self.renderer.forget(key)
            if self.inspector.key == key:
                self.inspector.show_chart(None, self.renderer.min_score(key))
            if self.settings_editor.key == key:
                self.settings_editor.show_metric(None, self.source.settings(key), [])
        self.browser.set_charted(self.grid.keys())
        self.chartsChanged.emit(self.grid.keys())

    def select_chart(self, key: str) -> None:
        self.grid.set_selected(key)
        self.inspector.show_chart(key, self.renderer.min_score(key), self._chart_info(key))
        self.settings_editor.show_metric(
            key, self.source.settings(key), self.source.thresholds(key)
        )

    def _settings_applied(self, key: str, _settings: object) -> None:
        self.renderer.forget(key)  # thresholds are redrawn on the next frame
        if self.settings_editor.key == key:
            self.settings_editor.sync(self.source.settings(key), self.source.thresholds(key))

    def _chart_info(self, key: str) -> str:
        rev = self.source.revision(key)
        if rev is None:
            return "The engine holds no data for this metric."
        thresholds = ", ".join(f"{t:g}" for t in self.source.thresholds(key)) or "none"
        state = next((m.state for m in self.source.metrics() if m.key == key), "")
        return (
            f"{rev.samples:,} samples · {STATE_TEXT.get(state, state)}\n"
            f"Alert thresholds: {thresholds}"
        )

    def bring_chart_of(self, record: object) -> None:
        """An alert was selected: chart its metric if needed, scroll the chart into view
        and select it."""
        if not isinstance(record, AnomalyRecord):
            return
        key = record.metric
        if self.grid.chart(key) is None:
            self.set_charted(key, True)
        if self.grid.bring_into_view(key):
            self.grid.set_selected(key)

    def show_anomaly(self, anomaly_id: int) -> None:
        """Show the details of ``anomaly_id`` (a clicked marker) and select its row."""
        record = self.anomaly_model.get(anomaly_id)
        self.inspector.show_anomaly(record)
        if record is not None:
            self.anomalies.select(anomaly_id)

    # -- live updates ----------------------------------------------------------------------
    @property
    def quiet(self) -> bool:
        """True while the board draws whole frames at the quiet pace (no steady data)."""
        return self._quiet

    def redraw(self, everything: bool = False) -> None:
        """One tick: bring the next group of visible charts up to date (``everything``,
        or a quiet board: all of them at once). Skipped while paused."""
        if self.paused:
            return
        visible = self.grid.visible_charts()
        whole = everything or self._quiet
        group = visible if whole else visible[self._phase :: SLICES]
        if self._quiet and time.monotonic() - self._metrics_at >= METRICS_REFRESH_MS / 1e3 - 0.1:
            self.refresh_metrics()  # in the same turn: one wake-up, one paint pass
        start = time.perf_counter()
        self.renderer.forecasts_per_frame = QUIET_FORECASTS if self._quiet else FORECASTS_PER_FRAME
        self.renderer.draw(group, time.time())
        self._frame_ms += (time.perf_counter() - start) * 1e3
        self._phase = 0 if whole else (self._phase + 1) % SLICES
        if self._phase == 0:
            # A frame without new samples (the demo paused): whole frames at the quiet
            # pace until samples come steadily again.
            updates = self.renderer.updates
            fresh = updates != self._updates_seen
            self._updates_seen = updates
            if everything:  # drawn afresh on demand (a setting, a resume): not new data
                self._fresh_frames = 0
            elif not self._quiet:
                self._set_quiet(not fresh)
            else:
                self._fresh_frames = self._fresh_frames + 1 if fresh else 0
                self._set_quiet(self._fresh_frames < WAKE_FRAMES)
            self.frame_ms.append(self._frame_ms)
            self._frame_ms = 0.0
            self._frames += 1
            counts = (len(visible), len(self.grid.keys()), len(self._chart_queue))
            # (frame_ms is bounded: its length stops growing)
            if self._frames % 10 == 1 or counts != self._caption_counts:
                self._caption_counts = counts
                self.toolbar.frame_label.setText(self.frame_caption(*counts))

    def _set_quiet(self, quiet: bool) -> None:
        if quiet != self._quiet:
            self._quiet = quiet
            self._fresh_frames = 0
            self._pace_metrics()
        interval = max(self._tick_ms, IDLE_FRAME_MS) if quiet else self._tick_ms
        if self.redraw_timer.interval() != interval:
            self.redraw_timer.setInterval(interval)

    def frame_caption(self, on_screen: int, charts: int, queued: int) -> str:
        """The toolbar's caption: charts on screen and the redraw cost."""
        if charts == 0:
            return "adding charts…" if queued else "no charts: pick metrics in the browser"
        noun = "chart" if charts == 1 else "charts"
        text = f"{on_screen} of {charts} {noun} on screen"
        if self.frame_ms:
            text += f" · redraw {statistics.median(self.frame_ms):.1f} ms"
        return text

    def _pace_metrics(self) -> None:
        """The metric list is re-read every second: by its own timer, or by the quiet
        board's frames (which tick once a second anyway) while those run."""
        by_frames = self._quiet and not self.paused
        if by_frames or not self.isVisible():
            self.metrics_timer.stop()
        elif not self.metrics_timer.isActive():
            self.metrics_timer.start()

    def set_paused(self, paused: bool) -> None:
        for chart in self.grid.charts():
            chart.plot.set_interactive(paused)
        if paused:
            self.redraw_timer.stop()
        elif self.isVisible():
            self.renderer.invalidate()
            self.redraw(everything=True)
            self.redraw_timer.start()
        self._pace_metrics()

    def _settings_changed(self, *_args: object) -> None:
        self.renderer.window = self.toolbar.window_seconds()
        self.renderer.forecasts = self.toolbar.forecast_check.isChecked()
        self.renderer.invalidate()
        if not self.paused and self.isVisible():
            self.redraw(everything=True)

    def refresh_metrics(self) -> None:
        """Read the engine's metric list: browser, default charts, inspector."""
        self._metrics_at = time.monotonic()
        session = self._bridge.session
        if not self.source.allowed(session.principal if session else None):
            self.grid.empty_label.setText("You need the metrics.read permission to see metrics.")
            return
        infos = self.source.metrics()
        self.browser.set_metrics(infos)
        troubled = self.troubled_subjects()
        wanted = sorted(
            (incident_first(rank, info.key, troubled), info.key)
            for info in infos
            if info.key not in self._removed and (rank := default_rank(info.key)) is not None
        )
        urgent = {k for k in self.chart_keys() if k.partition("{")[2] in troubled}
        if self.grid.order_first(urgent):  # the charts of tools with an open incident first
            self.chartsChanged.emit(self.grid.keys())
            self.renderer.invalidate()  # the moved charts: drawn afresh where they are now
            QTimer.singleShot(0, self, lambda: self.redraw(everything=True))
        room = self.max_default_charts - len(self.grid.keys())
        queued = [key for _, key in wanted if self.grid.chart(key) is None][: max(0, room)]
        # A chart costs tens of ms to build (pyqtgraph): one per turn of the event loop,
        # so the engine sharing the loop never waits for a dozen at once.
        self._chart_queue = queued
        if queued and self.isVisible() and not self._chart_timer.isActive():
            self._chart_timer.start()  # a hidden dashboard builds no chart
        if self.inspector.key is not None:
            key = self.inspector.key
            self.inspector.show_chart(key, self.renderer.min_score(key), self._chart_info(key))
        if self.settings_editor.key is not None:
            key = self.settings_editor.key
            self.settings_editor.sync(self.source.settings(key), self.source.thresholds(key))

    def troubled_subjects(self) -> set[str]:
        """The label sets (e.g. ``tool=clean_csv``) of metrics with an open anomaly."""
        model = self.anomaly_model
        rows = (model.record(row) for row in range(model.rowCount()))
        return {r.metric.partition("{")[2] for r in rows if not r.acknowledged} - {""}

    def _add_queued_chart(self) -> None:
        while self._chart_queue:
            key = self._chart_queue.pop(0)
            if key not in self._removed and self.grid.chart(key) is None:
                if len(self.grid.keys()) < self.max_default_charts:
                    self.set_charted(key, True)
                break
        if not self._chart_queue:
            self._chart_timer.stop()
            self._settle()
            if self.isVisible():
                self.redraw(everything=True)

    def pending_charts(self) -> int:
        """Default charts queued and not built yet."""
        return len(self._chart_queue)

    def _anomaly_updated(self, record: AnomalyRecord) -> None:
        if self.inspector.anomaly_id == record.id:
            self.inspector.show_anomaly(record)

    # -- visibility and session ----------------------------------------------------------------
    def _session_changed(self, session: Session | None) -> None:
        self.anomalies.update_buttons()
        if session is not None:
            self.refresh_metrics()
            self.anomalies.load()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.paused:
            self.redraw_timer.start()
        self._pace_metrics()
        if self._chart_queue:
            self._chart_timer.start()
        QTimer.singleShot(0, self, self._first_frame)

    def _first_frame(self) -> None:
        self.redraw(everything=True)
        if not self._chart_queue:
            self._settle()

    def _settle(self) -> None:
        """Once, when the first charts are built: they created ~100k Python objects (most
        of them pyqtgraph's), long-lived. Moved out of the cyclic GC's reach (freeze: no
        scan, no stall; a full collection here took 90-230 ms), the GC does not rescan them
        in a series of ~90 ms full collections during the first seconds of live updates.
        Only once: what is frozen is never collected until the window is discarded (the
        ConsoleController unfreezes then)."""
        if not self._settled:
            self._settled = True
            gc.freeze()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.redraw_timer.stop()
        self.metrics_timer.stop()
        self._chart_timer.stop()

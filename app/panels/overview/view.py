"""The Overview panel: the story at a glance, and the way into every other panel.

Six cards: tool health (success rate and confidence per module), open anomalies
and predicted failures, patches waiting for review, agents (or why the swarm is
off), recent reloads and the last audit events. Clicking an item opens its panel
on it (:attr:`OverviewPanel.openRequested`, wired by :func:`attach_overview`).

Live but throttled: engine events only schedule a read, at most one per
``min_interval_ms``, and a slow poll (``poll_ms``) catches what has no event
(agents). A predicted failure and a patch that becomes ready for review also
notify (:mod:`app.panels.overview.notify`): in the tray, or as a notice at the
top of this panel when the desktop has no tray.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.overview.cards import OverviewCard, is_dark
from app.panels.overview.notify import Incident, Notifier
from app.shared.formatting import format_clock
from app.shared.overview import ANOMALIES, PATCHES, TITLES, Item, Overview
from app.shared.permissions import missing_permission
from app.widgets.labels import show_failure
from app.widgets.style import set_severity
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Permission, has_permission

MIN_INTERVAL_MS = 1000
POLL_MS = 5000
NOTICE_STYLE = """
QFrame#overviewNotice {{ background: {bg}; border: 1px solid {border}; border-radius: 6px; }}
QFrame#overviewNotice QLabel {{ color: {fg}; background: transparent; border: none; }}
"""
NOTICE_COLOURS = {
    False: {"bg": "#fffaeb", "border": "#fedf89", "fg": "#7a2e0e"},
    True: {"bg": "#4e1d09", "border": "#93370d", "fg": "#fef0c7"},
}


class OverviewPanel(QWidget):
    """:attr:`loaded` (Overview) after each read; :attr:`openRequested` (panel, key)."""

    loaded = Signal(object)
    openRequested = Signal(str, object)

    def __init__(
        self,
        bridge: EngineBridge,
        parent: QWidget | None = None,
        *,
        min_interval_ms: int = MIN_INTERVAL_MS,
        poll_ms: int = POLL_MS,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("overviewPanel")
        self._bridge = bridge
        self._reading = False
        self._again = False
        self._last_read = 0.0
        self._first = True
        self.min_interval_ms = min_interval_ms
        self.overview: Overview | None = None
        self.notifier = notifier or Notifier(self)

        self.headline_label = QLabel("Reading the engine…", self)
        self.headline_label.setObjectName("overviewHeadline")
        self.headline_label.setWordWrap(True)
        self.updated_label = QLabel(self)
        self.updated_label.setObjectName("overviewUpdated")
        set_severity(self.updated_label, "muted")
        top = QHBoxLayout()
        top.addWidget(self.headline_label, 1)
        top.addWidget(self.updated_label)

        self.notice = QFrame(self)
        self.notice.setObjectName("overviewNotice")
        self._style_notice()
        self.notice_label = QLabel(self.notice)
        self.notice_label.setObjectName("overviewNoticeText")
        self.notice_label.setWordWrap(True)
        self.notice_open = QPushButton("Show", self.notice)
        self.notice_open.setObjectName("overviewNoticeOpen")
        self.notice_dismiss = QPushButton("Dismiss", self.notice)
        self.notice_dismiss.setObjectName("overviewNoticeDismiss")
        notice_layout = QHBoxLayout(self.notice)
        notice_layout.setContentsMargins(10, 6, 10, 6)
        notice_layout.addWidget(self.notice_label, 1)
        notice_layout.addWidget(self.notice_open)
        notice_layout.addWidget(self.notice_dismiss)
        self.notice.hide()
        self._notice_target: Item | None = None

        self.cards: dict[str, OverviewCard] = {}
        grid = QGridLayout()
        grid.setSpacing(10)
        for i, (name, title) in enumerate(TITLES.items()):
            card = OverviewCard(name, title, self)
            card.itemClicked.connect(self.open_item)
            self.cards[name] = card
            grid.addWidget(card, i // 3, i % 3)
        self.cards[ANOMALIES].actionClicked.connect(self.close_all_open)
        self._closing = False
        for column in range(3):
            grid.setColumnStretch(column, 1)
        for row in range(2):
            grid.setRowStretch(row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 10)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addLayout(grid, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        self._poll = QTimer(self)
        self._poll.setInterval(poll_ms)
        self._poll.timeout.connect(self.schedule_refresh)

        for signal in (
            bridge.anomalyDetected,
            bridge.anomalyAcknowledged,
            bridge.moduleReloaded,
            bridge.versionChanged,
            bridge.moduleFileDeleted,
            bridge.auditAppended,
        ):
            signal.connect(self._event)
        bridge.failurePredicted.connect(self._predicted)
        bridge.predictionWithdrawn.connect(self._withdrawn)
        bridge.patchChanged.connect(self._patch_changed)
        bridge.sessionChanged.connect(self._session_changed)
        self.notifier.notified.connect(self._notified)
        self.notifier.opened.connect(self.open_item)
        self.notice_open.clicked.connect(self._open_notice)
        self.notice_dismiss.clicked.connect(self.notice.hide)
        self.refresh()

    # -- reading ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read everything now (coalesced while a read is running)."""
        if self._bridge.closed or self._bridge.session is None:
            return
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._last_read = time.monotonic()
        self._bridge.run(
            self._bridge.overview.read(),
            on_success=self._loaded,
            on_error=self._failed,
            title="Could not read the overview",
        )

    def schedule_refresh(self) -> None:
        """Refresh soon: at most once per ``min_interval_ms`` however many events come."""
        if self._timer.isActive():
            return
        since_ms = (time.monotonic() - self._last_read) * 1000.0
        self._timer.start(int(max(0.0, self.min_interval_ms - since_ms)))

    def _loaded(self, overview: Overview) -> None:
        self._done()
        before = self.overview.sections if self.overview is not None else {}
        self.overview = overview
        for name, section in overview.sections.items():
            if before.get(name) != section:  # an unchanged card is not rebuilt (idle CPU)
                self.cards[name].show_section(section)
        self.headline_label.setText(overview.headline() or "All quiet: nothing needs you.")
        self._update_close_action()
        self.updated_label.setText(f"Updated {format_clock(overview.read_at)}")
        set_severity(self.updated_label, "muted")
        if self._first:  # what is on screen at sign-in is not news: no notification for it
            self._first = False
            for item in overview.sections[PATCHES].items:
                self.notifier.known(("patch", item.key))
        self.loaded.emit(overview)

    # -- closing incidents in bulk -------------------------------------------------------------
    def _update_close_action(self) -> None:
        session = self._bridge.session
        why = missing_permission(
            session.principal if session else None, Permission.ANOMALY_ACKNOWLEDGE
        )
        section = self.overview.sections.get(ANOMALIES) if self.overview else None
        anything = bool(section and section.summary and "open incident" in section.summary)
        tip = why or (
            "Close every open incident and acknowledge its anomalies, as yourself "
            "(recorded in the audit log)"
            if anything
            else "No open incident"
        )
        self.cards[ANOMALIES].set_action(
            "Close all", tip, not why and anything and not self._closing
        )

    def close_all_open(self) -> None:
        """Close every open incident (and acknowledge its anomalies) through the facade."""
        if self._bridge.closed or self._closing:
            return
        self._closing = True
        self._update_close_action()

        def done(counts: tuple[int, int]) -> None:
            self._closing = False
            incidents, rest = counts
            self.updated_label.setText(
                f"Closed {incidents} incident{'' if incidents == 1 else 's'}"
                + (
                    f" and acknowledged {rest} other anomal{'y' if rest == 1 else 'ies'}"
                    if rest
                    else ""
                )
            )
            self.schedule_refresh()

        def failed(exc: Exception) -> None:
            self._closing = False
            show_failure(self.updated_label, "Could not close the incidents", exc)
            self._update_close_action()

        self._bridge.run(
            self._bridge.metrics.close_all_open(),
            on_success=done,
            on_error=failed,
            title="Could not close the incidents",
        )

    def _failed(self, exc: Exception) -> None:
        self._done()
        show_failure(self.updated_label, "Could not read the engine", exc)

    def _done(self) -> None:
        self._reading = False
        if self._again:
            self._again = False
            self.schedule_refresh()

    # -- clicking through --------------------------------------------------------------------
    def open_item(self, item: object) -> None:
        if isinstance(item, Item) and item.panel:
            self.openRequested.emit(item.panel, item.key)

    def _open_notice(self) -> None:
        self.notice.hide()
        self.open_item(self._notice_target)

    # -- engine events ---------------------------------------------------------------------
    def _event(self, *_args: Any) -> None:
        self.schedule_refresh()

    def _predicted(self, alert: object) -> None:
        from chimera_engine.anomaly.engine import PredictiveAlert  # loaded: it sent this

        self.schedule_refresh()
        if isinstance(alert, PredictiveAlert):
            self.notifier.incident(
                Incident(
                    key=("prediction", alert.metric, alert.threshold, alert.direction),
                    title="Failure predicted",
                    message=alert.message(),
                    target=Item(text=alert.metric, panel="Dashboard", key=("metric", alert.metric)),
                )
            )

    def _withdrawn(self, alert: object, _reason: str) -> None:
        from chimera_engine.anomaly.engine import PredictiveAlert  # loaded: it sent this

        self.schedule_refresh()
        if isinstance(alert, PredictiveAlert):
            self.notifier.withdraw(("prediction", alert.metric, alert.threshold, alert.direction))

    def _patch_changed(self, patch_id: int, module: str, state: str, _reason: str) -> None:
        self.schedule_refresh()
        if state == "ready":
            session = self._bridge.session
            may_approve = session is not None and has_permission(
                session.principal.role, Permission.PATCH_APPROVE
            )
            # An observer cannot approve: tell them what happens, not what to do.
            whose = "your review" if may_approve else "review by an operator"
            self.notifier.incident(
                Incident(
                    key=("patch", patch_id),
                    title="Patch waiting for approval",
                    message=f"Patch {patch_id} for {module} passed the sandbox and waits "
                    f"for {whose}",
                    target=Item(text=f"Patch {patch_id}", panel="Patches", key=patch_id),
                )
            )
        else:  # no longer waiting (e.g. approved by policy): nothing to ask of the operator
            self.notifier.withdraw(("patch", patch_id))
            target = self._notice_target
            alone = self.notice_label.text().startswith("Patch waiting for approval:")
            if alone and target is not None and target.key == patch_id:
                self.notice.hide()

    def _notified(self, title: str, message: str, target: object) -> None:
        if not self.notifier.in_app:
            return
        self.notice_label.setText(f"{title}: {message}")
        self._notice_target = target if isinstance(target, Item) else None
        self.notice.show()

    def _session_changed(self, session: Session | None) -> None:
        if session is not None:
            self.refresh()

    def _style_notice(self) -> None:
        self.notice.setStyleSheet(NOTICE_STYLE.format(**NOTICE_COLOURS[is_dark(self)]))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._style_notice()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._poll.start()
        self.schedule_refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._poll.stop()


class PanelHost(Protocol):
    """What the Overview needs of the main window: its panels, by name."""

    def add_panel(self, name: str, widget: QWidget) -> object: ...
    def panel(self, name: str) -> QWidget: ...
    def panel_names(self) -> list[str]: ...
    def show_panel(self, name: str, *, focus: bool = True) -> None: ...


def open_target(window: PanelHost, panel: str, key: object) -> bool:
    """Show ``panel`` in ``window`` and bring ``key`` into view there; False if the
    window has no such panel."""
    if panel not in window.panel_names():
        return False
    window.show_panel(panel)
    widget: Any = window.panel(panel)
    if isinstance(key, int) and hasattr(widget, "open_patch"):
        widget.open_patch(key)
    elif isinstance(key, int) and hasattr(widget, "select_patch"):
        widget.select_patch(key)
    elif isinstance(key, str) and hasattr(widget, "select_agent"):
        widget.select_agent(key)
    elif key == "attempts" and hasattr(widget, "show_attempts"):
        widget.show_attempts()
    elif isinstance(key, tuple) and len(key) == 2:
        kind, value = key
        if isinstance(kind, str) and isinstance(value, int) and hasattr(widget, "select_version"):
            widget.select_version(kind, value)
        elif kind == "anomaly" and hasattr(widget, "show_anomaly"):
            widget.show_anomaly(value)
        elif kind == "metric" and value in getattr(widget, "chart_keys", list)():
            widget.select_chart(value)
    return True


def attach_overview(window: PanelHost, bridge: EngineBridge) -> OverviewPanel:
    """Add the Overview to ``window`` (as its next panel) with its items clicking through."""
    panel = OverviewPanel(bridge)
    window.add_panel("Overview", panel)
    panel.openRequested.connect(lambda name, key: open_target(window, name, key))
    return panel

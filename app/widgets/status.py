"""Status-bar indicators: signed-in user, engine state, event-loop lag."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.widgets.style import set_severity
from chimera_engine.security.manager import Session

#: p99 loop lag above this many milliseconds is shown amber (a dropped frame at 60 Hz).
LAG_WARN_MS = 16.0
#: ... and above this red (the GUI visibly stutters).
LAG_CRITICAL_MS = 50.0

#: The widest reading the lag pill is sized for.
WIDEST_LAG = "Loop lag p99 8888.8 ms"
#: Qt's QWIDGETSIZE_MAX: no maximum size.
QWIDGETSIZE_MAX = (1 << 24) - 1

_STATE_SEVERITY = {
    "running": "ok",
    "created": "muted",
    "starting": "warn",
    "stopping": "warn",
    "stopped": "critical",
    "failed": "critical",
}


def lag_severity(p99_ms: float) -> str:
    """``ok``, ``warn`` (> 16 ms) or ``critical`` (> 50 ms).

    >>> [lag_severity(x) for x in (3.0, 16.0, 16.5, 50.5)]
    ['ok', 'ok', 'warn', 'critical']
    """
    if p99_ms > LAG_CRITICAL_MS:
        return "critical"
    if p99_ms > LAG_WARN_MS:
        return "warn"
    return "ok"


class StatusPill(QLabel):
    """A compact status-bar label coloured by its ``severity`` property."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setProperty("statusPill", True)
        set_severity(self, "muted")


class UserIndicator(StatusPill):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("userIndicator", parent)
        self.set_session(None)

    def set_session(self, session: Session | None) -> None:
        if session is None:
            self.setText("Not signed in")
            self.setToolTip("")
            set_severity(self, "muted")
            return
        principal = session.principal
        self.setText(f"{principal.name} · {principal.role.value}")
        self.setToolTip(f"Signed in as {principal.name} with the {principal.role.value} role")
        set_severity(self, "ok")


class EngineStateIndicator(StatusPill):
    def __init__(self, state: str, parent: QWidget | None = None) -> None:
        super().__init__("engineStateIndicator", parent)
        self.setToolTip("State of the CHIMERA engine running in this process")
        self.set_state(state)

    def set_state(self, state: str) -> None:
        self.setText(f"Engine {state}")
        set_severity(self, _STATE_SEVERITY.get(state, "warn"))


class LagIndicator(StatusPill):
    """Shows the event loop's p99 lag: amber above 16 ms, red above 50 ms.

    A new reading comes every second. The pill has a fixed size, wide enough for any
    reading: a label whose size may change makes Qt lay out, and repaint, the whole
    status bar (and the window under it) at each new text; a fixed one repaints itself."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("lagIndicator", parent)
        self.p99_ms: float | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setText("Loop lag p99 —")
        self.setToolTip(
            "99th percentile of how late the event loop ran its timers over the last "
            f"half minute. Above {LAG_WARN_MS:.0f} ms the interface drops frames; above "
            f"{LAG_CRITICAL_MS:.0f} ms it visibly stutters."
        )
        self._fit()

    def _fit(self) -> None:
        shown = self.text()
        self.setMinimumSize(0, 0)
        self.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
        self.ensurePolished()
        self.setText(WIDEST_LAG)
        hint = self.sizeHint()
        self.setText(shown)
        self.setFixedSize(hint)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) and not self._fitting:
            self._fitting = True
            try:
                self._fit()
            finally:
                self._fitting = False

    _fitting = False

    def set_p99(self, p99_ms: float) -> None:
        self.p99_ms = p99_ms
        text = f"Loop lag p99 {p99_ms:.1f} ms"
        if text != self.text():
            self.setText(text)
        set_severity(self, lag_severity(p99_ms))

"""Status-bar indicators: signed-in user, engine state, event-loop lag."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from app.widgets.style import set_severity
from chimera_engine.security.manager import Session

#: p99 loop lag above this many milliseconds is shown amber (a dropped frame at 60 Hz).
LAG_WARN_MS = 16.0
#: ... and above this red (the GUI visibly stutters).
LAG_CRITICAL_MS = 50.0

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
    """Shows the event loop's p99 lag: amber above 16 ms, red above 50 ms."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("lagIndicator", parent)
        self.p99_ms: float | None = None
        self.setText("Loop lag p99 —")
        self.setToolTip(
            "99th percentile of how late the event loop ran its timers over the last "
            f"second. Above {LAG_WARN_MS:.0f} ms the interface drops frames; above "
            f"{LAG_CRITICAL_MS:.0f} ms it visibly stutters."
        )

    def set_p99(self, p99_ms: float) -> None:
        self.p99_ms = p99_ms
        self.setText(f"Loop lag p99 {p99_ms:.1f} ms")
        set_severity(self, lag_severity(p99_ms))

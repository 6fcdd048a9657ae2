"""Desktop notifications for what needs the operator: a predicted failure, a patch to review.

Through the system tray (:class:`QSystemTrayIcon`) where the desktop has one;
otherwise :attr:`Notifier.notified` is all there is and the Overview shows it as
an in-app notice. No storms: one notification per incident (a patch id; a
metric, threshold and direction for a prediction, again only after
``repeat_after_s``), and incidents arriving within ``coalesce_ms`` of each other
make a single notification that names them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon

from app.shared.overview import Item
from app.theme import resource_dir

#: A prediction of the same crossing is a new incident after this long.
REPEAT_AFTER_S = 1800.0
COALESCE_MS = 1500
#: Incidents named in one coalesced notification (the rest are counted).
NAMED = 3


@dataclass(frozen=True)
class Incident:
    key: Hashable
    title: str
    message: str
    target: Item


def tray_icon() -> QIcon:
    path = resource_dir() / "icons" / "chimera-console-64.png"
    icon = QIcon(str(path)) if path.is_file() else QIcon()
    if icon.isNull():
        style = QApplication.style()
        icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    return icon


class Notifier(QObject):
    """:attr:`notified` (title, message, target :class:`Item`) for every notification
    shown; :attr:`opened` (target) when the operator clicks a tray notification."""

    notified = Signal(str, str, object)
    opened = Signal(object)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        use_tray: bool | None = None,
        coalesce_ms: int = COALESCE_MS,
        repeat_after_s: float = REPEAT_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self.repeat_after_s = repeat_after_s
        self._clock = clock
        self._seen: dict[Hashable, float] = {}
        self._pending: list[Incident] = []
        self._last_target: Item | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self.flush)
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        if use_tray:
            self.tray = QSystemTrayIcon(tray_icon(), self)
            self.tray.setToolTip("CHIMERA Console")
            self.tray.messageClicked.connect(self._clicked)
            self.tray.show()

    @property
    def in_app(self) -> bool:
        """True when notifications have no tray to go to (the panel shows them itself)."""
        return self.tray is None

    def known(self, key: Hashable) -> None:
        """Mark ``key`` as already known (listed on screen): it will not notify."""
        self._seen[key] = self._clock()

    def incident(self, incident: Incident) -> bool:
        """Queue a notification unless this incident was notified already; True if queued."""
        now = self._clock()
        seen = self._seen.get(incident.key)
        if seen is not None and (
            not isinstance(incident.key, tuple)
            or incident.key[:1] != ("prediction",)
            or now - seen < self.repeat_after_s
        ):
            return False
        self._seen[incident.key] = now
        if len(self._seen) > 5000:  # forget the oldest half
            for key in sorted(self._seen, key=self._seen.__getitem__)[:2500]:
                del self._seen[key]
        self._pending.append(incident)
        if not self._timer.isActive():
            self._timer.start()
        return True

    def withdraw(self, key: Hashable) -> bool:
        """Drop a pending notification that no longer holds (a patch approved by policy
        before the coalescing window ended); True if one was dropped."""
        before = len(self._pending)
        self._pending = [p for p in self._pending if p.key != key]
        return len(self._pending) != before

    def flush(self) -> None:
        """Show what is pending now, as one notification."""
        self._timer.stop()
        pending, self._pending = self._pending, []
        if not pending:
            return
        if len(pending) == 1:
            title, message = pending[0].title, pending[0].message
        else:
            title = f"{len(pending)} things need you"
            lines = [f"• {p.message}" for p in pending[:NAMED]]
            if len(pending) > NAMED:
                lines.append(f"… and {len(pending) - NAMED} more (see the Overview)")
            message = "\n".join(lines)
        target = pending[0].target
        self._last_target = target
        if self.tray is not None:
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Warning, 10_000)
        self.notified.emit(title, message, target)

    def _clicked(self) -> None:
        if self._last_target is not None:
            self.opened.emit(self._last_target)

    def close(self) -> None:
        self._timer.stop()
        if self.tray is not None:
            self.tray.hide()

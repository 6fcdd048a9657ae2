"""One engine read at a time for a panel: a refresh asked for while one runs is run once more
when it ends, and a burst of change events becomes one refresh after a short quiet delay."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class RefreshGate:
    """Coalesces a panel's reads. The panel's ``refresh`` asks :meth:`begin` before it
    starts a read and calls :meth:`finish` when the read has succeeded or failed;
    :meth:`schedule` runs ``refresh`` after ``delay_ms`` (``restart``: each call pushes the
    delay back; otherwise a pending run is left as it is)."""

    def __init__(
        self,
        refresh: Callable[[], None],
        delay_ms: int,
        parent: QObject,
        *,
        restart: bool = False,
    ) -> None:
        self.timer = QTimer(parent)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(refresh)
        self._restart = restart
        self._running = False
        self._again = False

    def begin(self) -> bool:
        """True when a read may start now; otherwise one more is remembered for later."""
        if self._running:
            self._again = True
            return False
        self._running = True
        return True

    def finish(self) -> None:
        """The read has ended; run the one asked for meanwhile, if any."""
        self._running = False
        if self._again:
            self._again = False
            self.schedule()

    def schedule(self) -> None:
        """Refresh after the delay."""
        if self._restart or not self.timer.isActive():
            self.timer.start()

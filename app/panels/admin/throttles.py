"""Failed-login throttles per (name, source): who is being slowed down, and a way to
let a user back in at once."""

from __future__ import annotations

import time
from collections.abc import Coroutine, Iterable
from typing import Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from app.bridge import EngineBridge
from app.panels.admin.common import AdminTab
from app.shared.formatting import format_time
from app.shared.records import Column, RecordTableModel
from app.widgets.confirm import confirm
from app.widgets.style import set_severity
from chimera_engine.security.throttle import Throttle

RED = "#b42318"


def waiting(t: Throttle, now: float | None = None) -> float:
    """Seconds this pair must still wait before its next attempt (0: none)."""
    return max(0.0, t.next_allowed_at - (time.time() if now is None else now))


THROTTLE_COLUMNS: list[Column[Throttle]] = [
    Column("Name typed", lambda t: t.account, 180),
    Column("Source", lambda t: t.source, 180),
    Column("Failures", lambda t: str(t.failures), 80, right=True, sort=lambda t: t.failures),
    Column(
        "Waits",
        lambda t: f"{waiting(t):.0f} s" if waiting(t) else "—",
        80,
        right=True,
        colour=lambda t: RED if waiting(t) else None,
        sort=waiting,
    ),
    Column("Last failure", lambda t: format_time(t.updated_at), 160, sort=lambda t: t.updated_at),
]


class ThrottlesTab(AdminTab[Throttle]):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        model = RecordTableModel(THROTTLE_COLUMNS, key=lambda t: (t.account, t.source))
        super().__init__(bridge, "loginThrottles", model, parent)
        self.confirm_box: QMessageBox | None = None
        self.clear_button = self.add_button(
            "Clear…",
            "clearThrottleButton",
            self.clear,
            "Forget the failed logins of the selected name from that source",
        )
        self.finish_toolbar()
        hint = QLabel(
            "Failed logins count per name typed and per source; past a few, that pair waits "
            "longer after each failure. The same user from elsewhere is not slowed, and names "
            "that do not exist are treated alike.",
            self,
        )
        hint.setWordWrap(True)
        set_severity(hint, "muted")
        self.body.insertWidget(0, hint)

    def fetch(self) -> Coroutine[Any, Any, Iterable[Throttle]]:
        return self._bridge.admin.login_throttles()

    def update_buttons(self) -> None:
        self.clear_button.setEnabled(self.selected() is not None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def clear(self) -> QMessageBox | None:
        row = self.selected()
        if row is None:
            return None
        self.confirm_box = confirm(
            self,
            "Clear login throttle",
            f"Forget {row.failures} failed logins of {row.account!r} from {row.source}?",
            "Clear",
            lambda: self.run_action(
                "clear the throttle",
                self._bridge.admin.clear_login_throttle(row.account, row.source),
                lambda n: f"Cleared the throttle of {row.account} from {row.source}",
            ),
            detail="The next attempt from that source is accepted at once; this is audited.",
        )
        return self.confirm_box

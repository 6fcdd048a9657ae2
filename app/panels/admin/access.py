"""Capabilities in force (revocable) and the rate limiter's busiest buckets (live)."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from app.bridge import EngineBridge
from app.panels.admin.columns import BUCKET_COLUMNS, CAPABILITY_COLUMNS
from app.panels.admin.common import AdminTab
from app.shared.records import RecordTableModel
from app.widgets.confirm import confirm
from app.widgets.style import set_severity
from chimera_engine.security.capabilities import Capability
from chimera_engine.security.ratelimit import BucketStatus

#: The rate-limit table is read again this often while it is on screen.
RATE_REFRESH_MS = 3000


class CapabilitiesTab(AdminTab[Capability]):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        model = RecordTableModel(CAPABILITY_COLUMNS, key=lambda c: c.jti)
        super().__init__(bridge, "capabilities", model, parent)
        self.confirm_box: QMessageBox | None = None
        self.revoke_button = self.add_button(
            "Revoke…",
            "revokeCapabilityButton",
            self.revoke,
            "Refuse the selected token from now on",
        )
        self.finish_toolbar()
        hint = QLabel(
            "Capability tokens grant one operation on one object for a short time "
            "(e.g. patch.approve on patch:42). Expired, spent and revoked ones are not listed.",
            self,
        )
        hint.setWordWrap(True)
        set_severity(hint, "muted")
        self.body.insertWidget(0, hint)

    def fetch(self) -> Coroutine[Any, Any, Iterable[Capability]]:
        return self._bridge.admin.capabilities_in_force()

    def update_buttons(self) -> None:
        self.revoke_button.setEnabled(self.selected() is not None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def revoke(self) -> QMessageBox | None:
        cap = self.selected()
        if cap is None:
            return None
        self.confirm_box = confirm(
            self,
            "Revoke capability",
            f"Revoke the {cap.op} capability on {cap.obj} granted by {cap.subject}?",
            "Revoke capability",
            lambda: self.run_action(
                "revoke the capability",
                self._bridge.admin.revoke_capability(cap.jti),
                lambda jti: f"Revoked the {cap.op} capability on {cap.obj} ({jti[:12]}…)",
            ),
            detail="Its holder is refused from the next use; tokens derived from it too.",
        )
        return self.confirm_box


class RateLimitsTab(AdminTab[BucketStatus]):
    """Refreshed every :data:`RATE_REFRESH_MS` while visible, never in the background."""

    def __init__(
        self,
        bridge: EngineBridge,
        parent: QWidget | None = None,
        *,
        interval_ms: int = RATE_REFRESH_MS,
    ) -> None:
        model = RecordTableModel(BUCKET_COLUMNS, key=lambda b: (b.client, b.route_class))
        super().__init__(bridge, "rateLimits", model, parent)
        self.finish_toolbar()
        hint = QLabel(
            "Token buckets per client and route class, most recently used first. "
            "A bucket refills at its rate; a request finding it empty is denied (HTTP 429).",
            self,
        )
        hint.setWordWrap(True)
        set_severity(hint, "muted")
        self.body.insertWidget(0, hint)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.reload)

    def fetch(self) -> Coroutine[Any, Any, Iterable[BucketStatus]]:
        return self._bridge.admin.rate_limit_status()

    def _loaded(self, rows: Iterable[BucketStatus]) -> None:
        super()._loaded(rows)
        total = self.model.rowCount()
        denied = sum(b.denied for b in self.model.records())
        self.show_status(
            f"{total} buckets · {denied:,} requests denied · refreshed every "
            f"{self.timer.interval() / 1000:g} s while shown",
            "critical" if denied else "muted",
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()
        super().hideEvent(event)

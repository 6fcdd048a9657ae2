"""The Admin panel: users, API keys, capabilities in force, rate limits.

Administrators only: anyone else sees an explanation instead of the tabs (the
engine would refuse their requests anyway, and audit each refusal). Every
change goes through the authorised facade and is audited there.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.admin.access import CapabilitiesTab, RateLimitsTab
from app.panels.admin.keys import ApiKeysTab
from app.panels.admin.throttles import ThrottlesTab
from app.panels.admin.users import UsersTab
from app.theme import set_themed_style
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Role

EMPTY_STYLE = """
QLabel#adminEmptyTitle { font-size: 15pt; font-weight: 600; color: #102a43; }
QLabel#adminEmptyText { color: #3e4c59; }
"""


class AdminEmptyState(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adminEmptyState")
        set_themed_style(self, EMPTY_STYLE)
        card = QWidget(self)
        card.setFixedWidth(540)
        self.title = QLabel("Administrators only", card)
        self.title.setObjectName("adminEmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(card)
        self.text.setObjectName("adminEmptyText")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        card_layout = QVBoxLayout(card)
        card_layout.setSpacing(10)
        card_layout.addWidget(self.title)
        card_layout.addWidget(self.text)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)

    def set_session(self, session: Session | None) -> None:
        who = "Nobody is signed in."
        if session is not None:
            who = f"You are signed in as {session.principal.name} ({session.principal.role.value})."
        self.text.setText(
            f"{who} User accounts, API keys, capability tokens and rate limits are managed "
            "by administrators. Ask one if you need an account or a key."
        )


class AdminPanel(QWidget):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adminPanel")
        self._bridge = bridge
        self.empty_state = AdminEmptyState(self)
        self.users_tab = UsersTab(bridge)
        self.keys_tab = ApiKeysTab(bridge)
        self.capabilities_tab = CapabilitiesTab(bridge)
        self.rate_tab = RateLimitsTab(bridge)
        self.throttles_tab = ThrottlesTab(bridge)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("adminTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.users_tab, "Users")
        self.tabs.addTab(self.keys_tab, "API keys")
        self.tabs.addTab(self.capabilities_tab, "Capabilities in force")
        self.tabs.addTab(self.rate_tab, "Rate limits")
        self.tabs.addTab(self.throttles_tab, "Login throttles")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.addWidget(self.stack)
        bridge.sessionChanged.connect(self.set_session)
        self.set_session(bridge.session)

    @property
    def is_admin_view(self) -> bool:
        return self.stack.currentWidget() is self.tabs

    def set_session(self, session: Session | None) -> None:
        admin = session is not None and session.principal.role is Role.ADMIN
        self.keys_tab.secret.dismiss()
        self.empty_state.set_session(session)
        self.stack.setCurrentWidget(self.tabs if admin else self.empty_state)
        if admin:
            self.users_tab.reload()
            self.keys_tab.reload()
            return
        for tab in (self.users_tab, self.keys_tab, self.capabilities_tab, self.rate_tab):
            tab.model.set_rows([])

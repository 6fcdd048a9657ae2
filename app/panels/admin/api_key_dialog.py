"""The create-API-key dialog: name, role, scopes, rate limit and expiry.

The plaintext key comes back in :attr:`FormDialog.succeeded` as
``(plaintext, APIKey)``; the dialog never shows or keeps it (the API keys tab
shows it once).
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from app.bridge import EngineBridge
from app.shared.form import FormDialog
from chimera_engine.security.permissions import Role, permissions_of

KEY_ROLES = (Role.API_CLIENT, Role.OBSERVER, Role.OPERATOR, Role.NODE, Role.ADMIN)
DAY_S = 86_400


class CreateApiKeyDialog(FormDialog):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(
            bridge,
            name="createApiKeyDialog",
            title="New API key",
            heading="New API key",
            text=(
                "A key lets a program call the HTTP API with the role (and, optionally, "
                "only the scopes) chosen here. It is shown once, right after creation."
            ),
            submit="Create key",
            busy="Creating…",
            parent=parent,
        )
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("keyNameEdit")
        self.name_edit.setPlaceholderText("e.g. grafana-push")
        self.name_edit.setMaxLength(80)
        self.role_combo = QComboBox(self)
        self.role_combo.setObjectName("keyRoleCombo")
        for role in KEY_ROLES:
            self.role_combo.addItem(role.value, role.value)
        self.role_combo.setMinimumContentsLength(14)
        self.role_combo.currentIndexChanged.connect(self._role_changed)
        self.scope_list = QListWidget(self)
        self.scope_list.setObjectName("keyScopeList")
        self.scope_list.setMinimumHeight(150)
        scope_hint = QLabel("Leave every scope unchecked to allow all of the role's.", self)
        scope_hint.setObjectName("fieldHint")
        self.rate_spin = QSpinBox(self)
        self.rate_spin.setObjectName("keyRateSpin")
        self.rate_spin.setRange(0, 100_000)
        self.rate_spin.setSingleStep(60)
        self.rate_spin.setSpecialValueText("engine default")
        self.rate_spin.setSuffix(" requests/min")
        self.expiry_spin = QSpinBox(self)
        self.expiry_spin.setObjectName("keyExpirySpin")
        self.expiry_spin.setRange(0, 3650)
        self.expiry_spin.setValue(90)
        self.expiry_spin.setSpecialValueText("never")
        self.expiry_spin.setSuffix(" days")
        self.form.addRow("Name", self.name_edit)
        self.form.addRow("Role", self.role_combo)
        self.form.addRow("Scopes", self.scope_list)
        self.form.addRow("", scope_hint)
        self.form.addRow("Rate limit", self.rate_spin)
        self.form.addRow("Expires after", self.expiry_spin)
        self.finish_form()
        self._role_changed()
        self.name_edit.setFocus()

    def _role_changed(self) -> None:
        self.scope_list.clear()
        for permission in sorted(permissions_of(self.role), key=lambda p: p.value):
            item = QListWidgetItem(permission.value, self.scope_list)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Unchecked)

    @property
    def role(self) -> str:
        return str(self.role_combo.currentData())

    def scopes(self) -> list[str]:
        items = (self.scope_list.item(row) for row in range(self.scope_list.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def set_scopes(self, scopes: list[str]) -> None:
        for row in range(self.scope_list.count()):
            item = self.scope_list.item(row)
            checked = item.text() in scopes
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def problem(self) -> str:
        if not self.name_edit.text().strip():
            return "enter a name that says who uses the key"
        return ""

    def editors(self) -> list[QWidget]:
        return [self.name_edit, self.role_combo, self.scope_list, self.rate_spin, self.expiry_spin]

    def operation(self) -> Coroutine[Any, Any, object]:
        days = self.expiry_spin.value()
        return self._bridge.admin.create_api_key(
            name=self.name_edit.text().strip(),
            role=self.role,
            scopes=self.scopes(),
            expires_at=time.time() + days * DAY_S if days else None,
            rate_limit=self.rate_spin.value() or None,
        )

"""The API keys tab: every key with its role, scopes, limits and state; create (the
plaintext is shown once, above the table) and revoke with confirmation."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import EngineBridge
from app.panels.admin.api_key_dialog import CreateApiKeyDialog
from app.panels.admin.columns import KEY_COLUMNS, key_state
from app.panels.admin.common import AdminTab
from app.panels.admin.secret import OneTimeSecret
from app.shared.records import RecordTableModel
from app.widgets.confirm import confirm
from chimera_engine.security.apikeys import APIKey


class ApiKeysTab(AdminTab[APIKey]):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        model = RecordTableModel(KEY_COLUMNS, key=lambda k: k.id)
        super().__init__(bridge, "apiKeys", model, parent)
        self.dialog: CreateApiKeyDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.new_button = self.add_button(
            "New key…", "newApiKeyButton", self.new_key, "Create a key for a program"
        )
        self.revoke_button = self.add_button(
            "Revoke…", "revokeApiKeyButton", self.revoke, "Refuse the selected key from now on"
        )
        self.finish_toolbar()
        self.secret = OneTimeSecret(self)
        self.body.insertWidget(0, self.secret)

    def fetch(self) -> Coroutine[Any, Any, Iterable[APIKey]]:
        return self._bridge.admin.list_api_keys()

    def update_buttons(self) -> None:
        key = self.selected()
        self.revoke_button.setEnabled(key is not None and key_state(key) == "active")

    # -- create ----------------------------------------------------------------------------
    def new_key(self) -> CreateApiKeyDialog:
        self.secret.dismiss()
        dialog = CreateApiKeyDialog(self._bridge, self)
        dialog.succeeded.connect(self._created)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _created(self, result: object) -> None:
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"create_api_key returned {type(result).__name__}")
        plaintext, key = result[0], result[1]
        if not isinstance(plaintext, str) or not isinstance(key, APIKey):
            raise TypeError("create_api_key must return (plaintext, APIKey)")
        self.secret.reveal(f"API key “{key.name}” created ({key.role.value})", plaintext)
        text = f"Created API key {key.name} (chk_{key.prefix}_…)"
        self.show_status(text, "ok")
        self.reload(select=key.id)
        self.actionFinished.emit("create key", True, text)

    # -- revoke ----------------------------------------------------------------------------
    def revoke(self) -> QMessageBox | None:
        key = self.selected()
        if key is None:
            return None
        self.confirm_box = confirm(
            self,
            "Revoke API key",
            f"Revoke the API key “{key.name}” (chk_{key.prefix}_…)?",
            "Revoke key",
            lambda: self._revoke(key),
            detail="Programs using it are refused from their next request. This cannot be undone.",
        )
        return self.confirm_box

    def _revoke(self, key: APIKey) -> None:
        self.run_action(
            "revoke the key",
            self._bridge.admin.revoke_api_key(key.id),
            lambda revoked: f"Revoked API key {revoked.name} (chk_{revoked.prefix}_…)",
        )

"""The Users tab: accounts with role, state and last login; create, change, disable."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any

from PySide6.QtWidgets import QWidget

from app.bridge import EngineBridge
from app.panels.admin.columns import USER_COLUMNS
from app.panels.admin.common import AdminTab
from app.panels.admin.users_dialog import ChangeRoleDialog, CreateUserDialog, ResetPasswordDialog
from app.shared.form import FormDialog
from app.shared.records import RecordTableModel
from chimera_engine.security.admin_service import UserChange
from chimera_engine.store.records import UserRecord

_CHANGES = {
    "created": "Created {name} ({role})",
    "role": "{name} is now {role}",
    "disabled": "Disabled {name}: they can no longer sign in",
    "enabled": "Enabled {name}",
    "password": "Reset the password of {name}",
}


def describe_change(change: UserChange) -> str:
    template = _CHANGES.get(change.change, "Updated {name}")
    return template.format(name=change.user.username, role=change.user.role)


class UsersTab(AdminTab[UserRecord]):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        model = RecordTableModel(USER_COLUMNS, key=lambda u: u.id)
        super().__init__(bridge, "users", model, parent)
        self.dialog: FormDialog | None = None
        self.new_button = self.add_button(
            "New user…", "newUserButton", self.new_user, "Create an account"
        )
        self.role_button = self.add_button(
            "Change role…",
            "changeRoleButton",
            self.change_role,
            "Give the selected user another role",
        )
        self.disable_button = self.add_button(
            "Disable", "disableUserButton", self.toggle_disabled, "Stop or allow sign-ins"
        )
        self.password_button = self.add_button(
            "Reset password…", "resetPasswordButton", self.reset_password, "Set a new password"
        )
        self.finish_toolbar()
        bridge.userChanged.connect(self._user_changed)

    def fetch(self) -> Coroutine[Any, Any, Iterable[UserRecord]]:
        return self._bridge.admin.list_users()

    def update_buttons(self) -> None:
        user = self.selected()
        for button in (self.role_button, self.disable_button, self.password_button):
            button.setEnabled(user is not None)
        self.disable_button.setText("Enable" if user is not None and user.disabled else "Disable")

    def activated(self) -> None:
        self.change_role()

    def _user_changed(self, _user: object, _change: str) -> None:
        if self.isVisible():
            self.reload()

    # -- actions ---------------------------------------------------------------------------
    def _open(self, dialog: FormDialog) -> FormDialog:
        dialog.succeeded.connect(self._changed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _changed(self, change: object) -> None:
        if isinstance(change, UserChange):
            self.show_status(describe_change(change), "ok")
            self.reload(select=change.user.id)
            self.actionFinished.emit(change.change, True, describe_change(change))

    def new_user(self) -> FormDialog:
        return self._open(CreateUserDialog(self._bridge, self))

    def change_role(self) -> FormDialog | None:
        user = self.selected()
        if user is None:
            return None
        return self._open(ChangeRoleDialog(self._bridge, user.username, user.role, self))

    def reset_password(self) -> FormDialog | None:
        user = self.selected()
        if user is None:
            return None
        return self._open(ResetPasswordDialog(self._bridge, user.username, self))

    def toggle_disabled(self) -> None:
        user = self.selected()
        if user is None:
            return
        disable = not user.disabled
        self.run_action(
            "disable" if disable else "enable",
            self._bridge.admin.set_user_disabled(user.username, disable),
            describe_change,
        )

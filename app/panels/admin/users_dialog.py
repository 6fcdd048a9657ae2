"""Dialogs of the Users tab: create a user, reset a password, change a role."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QWidget

from app.bridge import EngineBridge
from app.shared.form import FormDialog, password_edit

#: Roles a person can hold (machine roles belong to API keys).
HUMAN_ROLES = ("observer", "operator", "admin")
ROLE_HINTS = {
    "observer": "Reads everything, changes nothing.",
    "operator": "Runs tools, reloads modules, approves patches.",
    "admin": "Everything, including users and API keys.",
}
PASSWORD_RULE = (
    "The engine's password policy applies: at least 8 characters, not a common "
    "password, not the user name."
)


def role_combo(parent: QWidget, current: str = "operator") -> tuple[QComboBox, QLabel]:
    """A combo of the human roles and a hint saying what the chosen one may do."""
    combo = QComboBox(parent)
    combo.setObjectName("roleCombo")
    hint = QLabel(parent)
    hint.setObjectName("fieldHint")
    for role in HUMAN_ROLES:
        combo.addItem(role, role)
    combo.currentIndexChanged.connect(
        lambda _i: hint.setText(ROLE_HINTS.get(str(combo.currentData()), ""))
    )
    combo.setCurrentIndex(max(0, combo.findData(current)))
    hint.setText(ROLE_HINTS.get(str(combo.currentData()), ""))
    return combo, hint


def _passwords_problem(password: QLineEdit, confirm: QLineEdit) -> str:
    if not password.text():
        return "enter a password"
    if password.text() != confirm.text():
        confirm.clear()
        return "the passwords do not match"
    return ""


class CreateUserDialog(FormDialog):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(
            bridge,
            name="createUserDialog",
            title="New user",
            heading="New user",
            text=f"The account can sign in at once. {PASSWORD_RULE}",
            submit="Create user",
            busy="Creating…",
            parent=parent,
        )
        self.username_edit = QLineEdit(self)
        self.username_edit.setObjectName("usernameEdit")
        self.username_edit.setPlaceholderText("e.g. dana")
        self.role_combo, role_hint = role_combo(self)
        self.password_edit = password_edit("passwordEdit", self)
        self.confirm_edit = password_edit("confirmEdit", self)
        self.form.addRow("User name", self.username_edit)
        self.form.addRow("Role", self.role_combo)
        self.form.addRow("", role_hint)
        self.form.addRow("Password", self.password_edit)
        self.form.addRow("Confirm password", self.confirm_edit)
        self.finish_form()
        self.username_edit.setFocus()

    def problem(self) -> str:
        if not self.username_edit.text().strip():
            return "enter a user name"
        return _passwords_problem(self.password_edit, self.confirm_edit)

    def editors(self) -> list[QWidget]:
        return [self.username_edit, self.role_combo, self.password_edit, self.confirm_edit]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._bridge.admin.create_user(
            self.username_edit.text().strip(),
            self.password_edit.text(),
            str(self.role_combo.currentData()),
        )


class ResetPasswordDialog(FormDialog):
    def __init__(self, bridge: EngineBridge, username: str, parent: QWidget | None = None) -> None:
        super().__init__(
            bridge,
            name="resetPasswordDialog",
            title="Reset password",
            heading=f"Reset the password of {username}",
            text=f"Sessions already open keep working until they expire. {PASSWORD_RULE}",
            submit="Reset password",
            busy="Saving…",
            parent=parent,
        )
        self.username = username
        self.password_edit = password_edit("passwordEdit", self)
        self.confirm_edit = password_edit("confirmEdit", self)
        self.form.addRow("New password", self.password_edit)
        self.form.addRow("Confirm password", self.confirm_edit)
        self.finish_form()
        self.password_edit.setFocus()

    def problem(self) -> str:
        return _passwords_problem(self.password_edit, self.confirm_edit)

    def editors(self) -> list[QWidget]:
        return [self.password_edit, self.confirm_edit]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._bridge.admin.reset_password(self.username, self.password_edit.text())


class ChangeRoleDialog(FormDialog):
    def __init__(
        self, bridge: EngineBridge, username: str, role: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(
            bridge,
            name="changeRoleDialog",
            title="Change role",
            heading=f"Change the role of {username}",
            text="Their open sessions end at once; they sign in again with the new role.",
            submit="Change role",
            busy="Saving…",
            parent=parent,
        )
        self.username = username
        self.role_combo, role_hint = role_combo(self, role)
        self.form.addRow("Role", self.role_combo)
        self.form.addRow("", role_hint)
        self.finish_form()

    def editors(self) -> list[QWidget]:
        return [self.role_combo]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._bridge.admin.set_user_role(self.username, str(self.role_combo.currentData()))

"""The first-run dialog: creates the first administrator while no account exists."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QWidget

from app.bridge import EngineBridge, describe_error
from app.shared.dialog_base import (
    BusyButton,
    DialogHeader,
    ErrorLabel,
    accept_or_quit,
    credential_form,
    hold_form,
    line_edit,
    plain_label,
    read_credentials,
    refuse,
    stack_dialog,
)
from chimera_engine.security.manager import Session

EXPLANATION = (
    "No account exists yet. This creates the first administrator: the account "
    "that manages users, approves patches and configures the engine. Every "
    "action it takes is written to the audit log."
)
PASSWORD_HINT = (
    "The password needs at least 8 characters and must be neither a common password "
    "nor the user name."
)


class FirstAdminDialog(QDialog):
    """User name, password and confirmation. The confirmation is checked here; the
    engine's password policy (too short, too common, ...) is reported inline.

    Emits :attr:`adminCreated` with the new administrator's :class:`Session`
    (they are signed in at once), then accepts.
    """

    adminCreated = Signal(object)  # Session

    def __init__(
        self, bridge: EngineBridge, *, username: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.setObjectName("firstAdminDialog")
        self.setWindowTitle("Create the first administrator — CHIMERA Console")
        self.setMinimumWidth(500)

        header = DialogHeader("Welcome to CHIMERA Console", EXPLANATION, self)

        self.username_edit = line_edit("usernameEdit", self, text=username)
        self.username_edit.setPlaceholderText("e.g. admin")
        self.password_edit = line_edit("passwordEdit", self, secret=True)
        self.confirm_edit = line_edit("confirmEdit", self, secret=True)
        hint = plain_label(PASSWORD_HINT, "fieldHint", self)
        form = credential_form(
            [
                ("User name", self.username_edit),
                ("Password", self.password_edit),
                ("Confirm password", self.confirm_edit),
            ],
            hint,
        )

        self.error_label = ErrorLabel(self)

        self.create_button = BusyButton("Create administrator", "Creating…", self)
        self.create_button.setObjectName("createButton")
        buttons, self.quit_button = accept_or_quit(self, self.create_button, self.submit)
        stack_dialog(self, header, form, self.error_label, buttons)

        (self.password_edit if username else self.username_edit).setFocus()

    def submit(self) -> None:
        """Check the fields locally, then ask the engine to create the account."""
        credentials = read_credentials(
            self, self.create_button, "enter a user name for the administrator"
        )
        if credentials is None:
            return
        username, password = credentials
        if password != self.confirm_edit.text():
            self.confirm_edit.clear()
            refuse(self.error_label, "the passwords do not match", self.confirm_edit)
            return
        self.error_label.clear_error()
        self._set_busy(True)
        self._bridge.run(
            self._bridge.create_first_admin(username, password),
            on_success=self._succeeded,
            on_error=self._failed,
            title="Could not create the administrator",
        )

    def _set_busy(self, busy: bool) -> None:
        edits = (self.username_edit, self.password_edit, self.confirm_edit)
        hold_form(self.create_button, busy, *edits)

    def _succeeded(self, session: Session) -> None:
        self._set_busy(False)
        self.password_edit.clear()
        self.confirm_edit.clear()
        self.adminCreated.emit(session)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.error_label.show_error(describe_error(exc))
        self.password_edit.setFocus()
        self.password_edit.selectAll()

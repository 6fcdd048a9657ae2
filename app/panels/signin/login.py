"""The sign-in dialog. Non-modal friendly: show it with ``open()`` or ``show()``."""

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


class LoginDialog(QDialog):
    """Asks for a user name and password and signs in through the bridge.

    Emits :attr:`loggedIn` with the new :class:`Session`, then accepts. A refusal
    (wrong password, locked or disabled account) is shown inline and the
    password field is cleared for another try.
    """

    loggedIn = Signal(object)  # Session

    def __init__(
        self, bridge: EngineBridge, *, username: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.setObjectName("loginDialog")
        self.setWindowTitle("Sign in — CHIMERA Console")
        self.setMinimumWidth(440)

        header = DialogHeader("CHIMERA Console", "Sign in to operate the engine.", self)

        self.username_edit = line_edit("usernameEdit", self, text=username)
        self.username_edit.setPlaceholderText("user name")
        self.password_edit = line_edit("passwordEdit", self, secret=True)
        self.password_edit.setPlaceholderText("password")
        form = credential_form(
            [("User name", self.username_edit), ("Password", self.password_edit)]
        )

        self.error_label = ErrorLabel(self)

        self.sign_in_button = BusyButton("Sign in", "Signing in…", self)
        self.sign_in_button.setObjectName("signInButton")
        buttons, self.quit_button = accept_or_quit(self, self.sign_in_button, self.submit)

        footer = plain_label(f"Engine data: {bridge.data_dir}", "dialogFooter", self)
        stack_dialog(self, header, form, self.error_label, buttons, footer)

        (self.password_edit if username else self.username_edit).setFocus()

    def submit(self) -> None:
        """Validate locally, then ask the engine; the button is disabled meanwhile."""
        credentials = read_credentials(self, self.sign_in_button, "enter your user name")
        if credentials is None:
            return
        username, password = credentials
        if not password:
            refuse(self.error_label, "enter your password", self.password_edit)
            return
        self.error_label.clear_error()
        self._set_busy(True)
        self._bridge.run(
            self._bridge.login(username, password),
            on_success=self._succeeded,
            on_error=self._failed,
            title="Sign in failed",
        )

    def _set_busy(self, busy: bool) -> None:
        hold_form(self.sign_in_button, busy, self.username_edit, self.password_edit)

    def _succeeded(self, session: Session) -> None:
        self._set_busy(False)
        self.password_edit.clear()
        self.loggedIn.emit(session)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.error_label.show_error(describe_error(exc))
        self.password_edit.clear()
        self.password_edit.setFocus()

"""Pieces shared by the sign-in dialogs: a header, an inline error label, a busy button,
the credential fields, their form and how they are read, the accept/quit buttons and the
dialog's layout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class DialogHeader(QWidget):
    """A bold title over a muted, word-wrapped explanation."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.title = QLabel(title, self)
        self.title.setObjectName("dialogTitle")
        self.text = QLabel(text, self)
        self.text.setObjectName("dialogText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.title)
        layout.addWidget(self.text)


class ErrorLabel(QLabel):
    """Red, word-wrapped, hidden until there is something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorLabel")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_error(self, message: str) -> None:
        self.setText(message.strip())
        self.show()

    def clear_error(self) -> None:
        self.clear()
        self.hide()


class BusyButton(QPushButton):
    """A push button that says what it is doing and refuses clicks meanwhile."""

    def __init__(self, text: str, busy_text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._idle_text = text
        self._busy_text = busy_text

    def set_busy(self, busy: bool) -> None:
        self.setEnabled(not busy)
        self.setText(self._busy_text if busy else self._idle_text)


def align_form_labels(form: QFormLayout) -> None:
    """Centre each row's label on a one-line field (styled fields are taller than a label);
    beside a tall field (a text box) the label stays at the top, level with its first line."""
    for row in range(form.rowCount()):
        label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        label = label_item.widget() if label_item is not None else None
        field = field_item.widget() if field_item is not None else None
        if label is not None and field is not None:
            # A fixed-height field's size hint can be far taller than the field itself.
            height = min(field.sizeHint().height(), field.maximumHeight())
            if height > 2.5 * label.sizeHint().height() and isinstance(label, QLabel):
                label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                label.setContentsMargins(0, 6, 0, 0)
            else:
                label.setMinimumHeight(height)


def grow_to_fit(dialog: QWidget) -> None:
    """Grow ``dialog`` (never shrink it) to its size hint, within its screen, so messages
    that appeared under its fields are not cut off."""
    hint = dialog.sizeHint()
    screen = dialog.screen()
    limit = screen.availableGeometry().size() if screen is not None else hint
    width = min(max(dialog.width(), hint.width()), limit.width())
    height = min(max(dialog.height(), hint.height()), limit.height())
    if (width, height) != (dialog.width(), dialog.height()):
        dialog.resize(width, height)


def plain_label(text: str, name: str, parent: QWidget) -> QLabel:
    """A word-wrapped plain-text label with an object name for the style sheet."""
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def line_edit(name: str, parent: QWidget, *, text: str = "", secret: bool = False) -> QLineEdit:
    """A named line edit; ``secret`` hides what is typed (a password)."""
    edit = QLineEdit(text, parent)
    edit.setObjectName(name)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def credential_form(rows: Sequence[tuple[str, QWidget]], *notes: QWidget) -> QFormLayout:
    """A form of labelled fields (labels aligned to their fields) followed by full-width notes."""
    form = QFormLayout()
    form.setSpacing(10)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    for label, field in rows:
        form.addRow(label, field)
    for note in notes:
        form.addRow(note)
    align_form_labels(form)
    return form


def accept_or_quit(
    dialog: QDialog, accept: QPushButton, on_accept: Callable[[], None]
) -> tuple[QDialogButtonBox, QPushButton]:
    """A button box with a "Quit" button (rejects ``dialog``) and ``accept`` as the default
    button (calls ``on_accept``); returns the box and the quit button."""
    accept.setDefault(True)
    accept.setAutoDefault(True)
    buttons = QDialogButtonBox(dialog)
    quit_button = buttons.addButton("Quit", QDialogButtonBox.ButtonRole.RejectRole)
    quit_button.setObjectName("quitButton")
    quit_button.setAutoDefault(False)
    buttons.addButton(accept, QDialogButtonBox.ButtonRole.AcceptRole)
    accept.clicked.connect(on_accept)
    quit_button.clicked.connect(dialog.reject)
    return buttons, quit_button


def stack_dialog(dialog: QDialog, *parts: QWidget | QLayout) -> QVBoxLayout:
    """Lay ``parts`` out top to bottom in ``dialog`` with the sign-in dialogs' margins."""
    layout = QVBoxLayout(dialog)
    layout.setContentsMargins(28, 24, 28, 20)
    layout.setSpacing(14)
    for part in parts:
        if isinstance(part, QLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)
    return layout


def refuse(error_label: ErrorLabel, message: str, field: QLineEdit) -> None:
    """Say what is missing or wrong under the form and put the cursor in ``field``."""
    error_label.show_error(message)
    field.setFocus()


class CredentialFields(Protocol):
    """A sign-in dialog's user name and password fields and its inline error label."""

    username_edit: QLineEdit
    password_edit: QLineEdit
    error_label: ErrorLabel


def read_credentials(
    dialog: CredentialFields, button: BusyButton, no_username: str
) -> tuple[str, str] | None:
    """The trimmed user name and the password, or None: while ``button`` is busy
    (disabled), or when the user name is empty (``no_username`` is said under the form)."""
    if not button.isEnabled():
        return None
    username = dialog.username_edit.text().strip()
    password = dialog.password_edit.text()
    if not username:
        refuse(dialog.error_label, no_username, dialog.username_edit)
        return None
    return username, password


def hold_form(button: BusyButton, busy: bool, *edits: QLineEdit) -> None:
    """While ``busy``, the button says what it is doing and the fields are read-only."""
    button.set_busy(busy)
    for edit in edits:
        edit.setReadOnly(busy)

"""Pieces shared by the sign-in dialogs: a header, an inline error label, a busy button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget


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

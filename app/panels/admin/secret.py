"""Shows a newly created secret (an API key) once, with a Copy button and a warning.

The text lives only in this widget's read-only field until :meth:`OneTimeSecret.dismiss`
clears it; it is never written to a table, a log or the clipboard unless the
operator clicks Copy.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.theme import set_themed_style
from app.widgets.code_view import monospace_font

BANNER_STYLE = """
QFrame#oneTimeSecret { background: #fffaeb; border: 1px solid #fedf89; border-radius: 6px; }
QFrame#oneTimeSecret QLabel { background: transparent; border: none; }
QLabel#oneTimeSecretTitle { font-weight: 600; color: #102a43; }
QLabel#oneTimeSecretWarning { color: #93370d; }
QLineEdit#oneTimeKeyField { background: #ffffff; color: #102a43; }
"""


class OneTimeSecret(QFrame):
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("oneTimeSecret")
        set_themed_style(self, BANNER_STYLE)
        self.title = QLabel(self)
        self.title.setObjectName("oneTimeSecretTitle")
        self.field = QLineEdit(self)
        self.field.setObjectName("oneTimeKeyField")
        self.field.setReadOnly(True)
        self.field.setFont(monospace_font(10))
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("copyKeyButton")
        self.copy_button.setToolTip("Copy the key to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.dismiss_button = QPushButton("Done", self)
        self.dismiss_button.setObjectName("dismissKeyButton")
        self.dismiss_button.setToolTip("Forget the key here; it cannot be shown again")
        self.dismiss_button.clicked.connect(self.dismiss)
        self.warning = QLabel(
            "This key will not be shown again. Copy it now and store it in a secret manager; "
            "if it is lost, revoke it and create a new one.",
            self,
        )
        self.warning.setObjectName("oneTimeSecretWarning")
        self.warning.setWordWrap(True)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.field, 1)
        row.addWidget(self.copy_button)
        row.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.warning)
        self.hide()

    @property
    def secret(self) -> str:
        return self.field.text()

    def reveal(self, title: str, secret: str) -> None:
        self.title.setText(title)
        self.field.setText(secret)
        self.field.setCursorPosition(0)
        self.copy_button.setText("Copy")
        self.show()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.field.text())
        self.copy_button.setText("Copied")

    def dismiss(self) -> None:
        was_shown = bool(self.field.text())
        self.field.clear()
        self.title.clear()
        self.hide()
        if was_shown:
            self.dismissed.emit()

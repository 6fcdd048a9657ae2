"""The rows of the Settings dialog: label, editor, when it applies, and a message line.

:class:`FieldGrid` lays out one tab's fields and owns, per field, a message
line under the editor (an error in red, or a notice such as "set by the
environment") and a tag saying whether a change applies now or at the next
start. :func:`editor_value` / :func:`set_editor_value` read and fill any of the
editors used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.widgets.style import set_severity

NOW = "applies now"
RESTART = "at next start"


class PathEdit(QWidget):
    """A path field with a Browse… button (a non-modal file dialog)."""

    textChanged = Signal(str)

    def __init__(self, *, folder: bool, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.folder = folder
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.textChanged.emit)
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse_button)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # Qt naming, like QLineEdit
        self.edit.setText(text)

    def browse(self) -> QFileDialog:
        dialog = QFileDialog(self, "Choose a folder" if self.folder else "Choose a file")
        dialog.setFileMode(
            QFileDialog.FileMode.Directory if self.folder else QFileDialog.FileMode.ExistingFile
        )
        if self.edit.text().strip():
            dialog.selectFile(self.edit.text().strip())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.edit.setText)
        dialog.open()
        return dialog


Editor = QLineEdit | QComboBox | QCheckBox | QSpinBox | QDoubleSpinBox | PathEdit


def editor_value(editor: QWidget) -> Any:
    if isinstance(editor, (QLineEdit, PathEdit)):
        return editor.text()
    if isinstance(editor, QComboBox):
        return editor.currentData()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    raise TypeError(f"not a settings editor: {type(editor).__name__}")


def set_editor_value(editor: QWidget, value: Any) -> None:
    if isinstance(editor, (QLineEdit, PathEdit)):
        editor.setText("" if value is None else str(value))
    elif isinstance(editor, QComboBox):
        index = editor.findData(value)
        editor.setCurrentIndex(max(0, index))
    elif isinstance(editor, QCheckBox):
        editor.setChecked(bool(value))
    elif isinstance(editor, QSpinBox):
        editor.setValue(int(value))
    elif isinstance(editor, QDoubleSpinBox):
        editor.setValue(float(value))
    else:
        raise TypeError(f"not a settings editor: {type(editor).__name__}")


def set_editable(editor: QWidget, editable: bool) -> None:
    """Enable or disable ``editor``; its text fields also turn read-only, so the theme
    greys them and their text can still be selected and copied."""
    editor.setEnabled(editable)
    edits = editor.findChildren(QLineEdit)
    if isinstance(editor, QLineEdit):
        edits.append(editor)
    for edit in edits:
        edit.setReadOnly(not editable)


def connect_changed(editor: QWidget, slot: Any) -> None:
    """Call ``slot()`` whenever the operator changes ``editor``."""
    if isinstance(editor, (QLineEdit, PathEdit)):
        editor.textChanged.connect(lambda _t: slot())
    elif isinstance(editor, QComboBox):
        editor.currentIndexChanged.connect(lambda _i: slot())
    elif isinstance(editor, QCheckBox):
        editor.toggled.connect(lambda _b: slot())
    elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        editor.valueChanged.connect(lambda _v: slot())


@dataclass
class Row:
    key: str
    label: QLabel
    editor: QWidget
    message: QLabel
    when: QLabel
    hint: str


class FieldGrid(QWidget):
    """One tab of settings: a short intro, then a row per field."""

    def __init__(self, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, Row] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 14, 16, 14)
        outer.setSpacing(12)
        self.intro = QLabel(intro, self)
        self.intro.setObjectName("fieldHint")
        self.intro.setWordWrap(True)
        outer.addWidget(self.intro)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(12)
        self.grid.setVerticalSpacing(4)
        self.grid.setColumnStretch(1, 1)
        outer.addLayout(self.grid)
        outer.addStretch(1)

    def add(self, key: str, label: str, editor: QWidget, hint: str = "") -> QWidget:
        """Add ``editor`` for setting ``key`` ("section.key"); ``hint`` shows under it."""
        row = self.grid.rowCount()
        name = QLabel(label, self)
        name.setBuddy(editor if not isinstance(editor, PathEdit) else editor.edit)
        editor.setObjectName(f"field-{key}")
        editor.setToolTip(hint)
        when = QLabel("", self)
        when.setObjectName("fieldHint")
        when.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        message = QLabel(hint, self)
        message.setObjectName(f"message-{key}")
        message.setWordWrap(True)
        message.setTextFormat(Qt.TextFormat.PlainText)
        set_severity(message, "muted")
        message.setVisible(bool(hint))
        self.grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
        self.grid.addWidget(editor, row, 1)
        self.grid.addWidget(when, row, 2)
        self.grid.addWidget(message, row + 1, 1, 1, 2)
        name.setMinimumHeight(editor.sizeHint().height())
        name.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.rows[key] = Row(key, name, editor, message, when, hint)
        return editor

    def set_when(self, key: str, live: bool) -> None:
        row = self.rows[key]
        row.when.setText(NOW if live else RESTART)
        row.when.setToolTip(
            "A saved change takes effect at once."
            if live
            else "A saved change takes effect when the engine starts next."
        )

    def show_message(self, key: str, text: str, severity: str) -> None:
        """Show ``text`` under the field (``""``: back to its hint, if any)."""
        row = self.rows[key]
        if not text:
            text, severity = row.hint, "muted"
        text = text[:1].upper() + text[1:]
        row.message.setText(text)
        set_severity(row.message, severity)
        row.message.setVisible(bool(text))

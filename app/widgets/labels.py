"""The panels' plain-text labels: word-wrapped, selectable, coloured by severity."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.widgets.style import set_severity


def selectable_label(
    name: str, parent: QWidget, text: str = "", *, severity: str | None = "muted"
) -> QLabel:
    """A named, word-wrapped plain-text label the operator can select and copy, in
    ``severity``'s colour (``None``: the default text colour)."""
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if severity is not None:
        set_severity(label, severity)
    return label

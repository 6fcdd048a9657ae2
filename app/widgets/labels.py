"""The panels' plain-text labels: word-wrapped, selectable, coloured by severity; and a
label saying that something failed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.tasks import describe_error
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


def show_failure(label: QLabel, what: str, exc: BaseException) -> None:
    """``label`` says that ``what`` failed and why, in the critical colour."""
    label.setText(f"{what}: {describe_error(exc)}")
    set_severity(label, "critical")

"""Small styling helpers shared by widgets; colours live in resources/theme/light.qss."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

SEVERITIES = ("muted", "ok", "warn", "critical")


def set_severity(widget: QWidget, severity: str) -> None:
    """Set the ``severity`` property the stylesheet colours by, and restyle at once."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")
    if widget.property("severity") == severity:
        return
    widget.setProperty("severity", severity)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def severity_of(widget: QWidget) -> str:
    return str(widget.property("severity") or "")


def footer_label(name: str, parent: QWidget) -> QLabel:
    """A muted, selectable, wrapping plain-text label for a panel's status line."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    set_severity(label, "muted")
    return label

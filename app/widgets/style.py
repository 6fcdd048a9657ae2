"""Small styling helpers shared by widgets; colours live in resources/theme/light.qss."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

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

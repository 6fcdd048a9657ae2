"""The light theme: Fusion style, a light palette, a legible font and resources/theme/light.qss."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

THEME_DIR = Path(__file__).resolve().parent.parent / "resources" / "theme"
FONT_FAMILIES = ["Inter", "Segoe UI", "Cantarell", "Noto Sans", "DejaVu Sans", "Sans Serif"]
FONT_POINT_SIZE = 10

_PALETTE = {
    QPalette.ColorRole.Window: "#f4f6f9",
    QPalette.ColorRole.WindowText: "#1f2933",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f6f8fb",
    QPalette.ColorRole.Text: "#1f2933",
    QPalette.ColorRole.Button: "#ffffff",
    QPalette.ColorRole.ButtonText: "#1f2933",
    QPalette.ColorRole.Highlight: "#cfe0fc",
    QPalette.ColorRole.HighlightedText: "#102a43",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1f2933",
    QPalette.ColorRole.PlaceholderText: "#8a94a6",
    QPalette.ColorRole.Link: "#1d5bd8",
}


def load_stylesheet(name: str = "light") -> str:
    """The text of ``resources/theme/<name>.qss``; empty (Qt's defaults) if it is missing."""
    path = THEME_DIR / f"{name}.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("theme %s not loaded: %s", path, exc.strerror)
        return ""


def light_palette() -> QPalette:
    palette = QPalette()
    for role, colour in _PALETTE.items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#9aa5b1")
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication) -> None:
    """Make the console look the same on every desktop, whatever the system theme."""
    app.setStyle("Fusion")
    app.setPalette(light_palette())
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSize(FONT_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(load_stylesheet("light"))

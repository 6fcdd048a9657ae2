"""Light and dark themes: Fusion style, a palette, a legible font and resources/theme/*.qss.

The operator picks *light*, *dark* or *system* (the default: follow the desktop's
colour scheme, through ``QStyleHints.colorScheme`` on Qt 6.5 and later).

Colours written for the light theme elsewhere in the GUI go through
:func:`themed` (one colour) or :func:`themed_css` (a style sheet): in the dark
theme they are mapped to a dark counterpart (light backgrounds become dark,
dark text becomes light, accents keep their hue). Widgets that paint with such
colours re-read them on ``QEvent.PaletteChange``; style sheets given through
:func:`set_themed_style` are re-applied by :func:`apply_theme`.
"""

from __future__ import annotations

import colorsys
import functools
import logging
import re
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QWidget

log = logging.getLogger(__name__)

LIGHT, DARK, SYSTEM = "light", "dark", "system"
CHOICES = (LIGHT, DARK, SYSTEM)
FONT_FAMILIES = ["Inter", "Segoe UI", "Cantarell", "Noto Sans", "DejaVu Sans", "Sans Serif"]
FONT_POINT_SIZE = 10
#: The dynamic property holding a widget's light-theme style sheet (see set_themed_style).
STYLE_PROPERTY = "themedStyleSource"
#: The application property naming the theme in force ("light" or "dark").
THEME_PROPERTY = "chimeraTheme"

_LIGHT_PALETTE = {
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
_DARK_PALETTE = {
    QPalette.ColorRole.Window: "#181c22",
    QPalette.ColorRole.WindowText: "#dde3ea",
    QPalette.ColorRole.Base: "#1f242b",
    QPalette.ColorRole.AlternateBase: "#242a32",
    QPalette.ColorRole.Text: "#dde3ea",
    QPalette.ColorRole.Button: "#262c34",
    QPalette.ColorRole.ButtonText: "#dde3ea",
    QPalette.ColorRole.Highlight: "#2b4a7e",
    QPalette.ColorRole.HighlightedText: "#f1f5fa",
    QPalette.ColorRole.ToolTipBase: "#262c34",
    QPalette.ColorRole.ToolTipText: "#dde3ea",
    QPalette.ColorRole.PlaceholderText: "#7d8896",
    QPalette.ColorRole.Link: "#7aa7f5",
    # Fusion draws frames and the tab bar's base line with these.
    QPalette.ColorRole.Light: "#3a424d",
    QPalette.ColorRole.Midlight: "#2f3640",
    QPalette.ColorRole.Mid: "#262c34",
    QPalette.ColorRole.Dark: "#14171c",
    QPalette.ColorRole.Shadow: "#0b0d10",
}
_DISABLED = {LIGHT: "#9aa5b1", DARK: "#6b7682"}


def resource_dir() -> Path:
    """Where ``theme/`` and ``icons/`` are: the checkout's ``resources/``, the bundle's,
    or ``<prefix>/share/chimera-console`` of an installed wheel."""
    candidates = [Path(__file__).resolve().parent.parent / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "resources")
    candidates.append(Path(sys.prefix) / "share" / "chimera-console")
    for candidate in candidates:
        if (candidate / "theme").is_dir():
            return candidate
    return candidates[0]


def app_icon() -> QIcon:
    """The console's icon in every size resources/icons has (empty if none is there)."""
    icon = QIcon()
    for path in sorted((resource_dir() / "icons").glob("chimera-console-*.png")):
        icon.addFile(str(path))
    return icon


def load_stylesheet(name: str = LIGHT) -> str:
    """The text of ``theme/<name>.qss``; empty (Qt's defaults) if it is missing.
    ``@THEME_DIR@`` in it stands for the theme folder (images such as the tick)."""
    path = resource_dir() / "theme" / f"{name}.qss"
    try:
        return path.read_text(encoding="utf-8").replace("@THEME_DIR@", path.parent.as_posix())
    except OSError as exc:
        log.warning("theme %s not loaded: %s", path, exc.strerror)
        return ""


def _palette(name: str) -> QPalette:
    palette = QPalette()
    for role, colour in (_DARK_PALETTE if name == DARK else _LIGHT_PALETTE).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor(_DISABLED[name])
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def light_palette() -> QPalette:
    return _palette(LIGHT)


def dark_palette() -> QPalette:
    return _palette(DARK)


def system_theme() -> str:
    """``"dark"`` when the desktop asks for a dark colour scheme, else ``"light"``."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)  # Qt >= 6.5
    if scheme is not None and scheme() == Qt.ColorScheme.Dark:
        return DARK
    return LIGHT


def resolve_theme(choice: str) -> str:
    """``"light"`` or ``"dark"`` for a choice of :data:`CHOICES` (unknown: system)."""
    if choice in (LIGHT, DARK):
        return choice
    return system_theme()


def current_theme() -> str:
    """The theme in force, read from the application palette (``"light"`` without one)."""
    if QGuiApplication.instance() is None:
        return LIGHT
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return DARK if window.lightness() < 128 else LIGHT


def is_dark() -> bool:
    return current_theme() == DARK


@functools.lru_cache(maxsize=1024)
def _dark_rgba(rgba: int) -> int:
    colour = QColor.fromRgba(rgba)
    h, lightness, s = colorsys.rgb_to_hls(colour.redF(), colour.greenF(), colour.blueF())
    if lightness >= 0.7:  # backgrounds and tints: dark surfaces of the same hue
        lightness = 0.14 + (1.0 - lightness) * 0.5
        h, s = (0.6, 0.12) if s < 0.05 else (h, s * 0.45)
    elif lightness <= 0.32:  # text: light, same hue
        lightness = 0.93 - lightness * 0.45
    else:  # accents and greys: never darker than they were, a little lighter
        lightness = min(0.78, max(lightness, 1.0 - lightness) + 0.06)
    r, g, b = colorsys.hls_to_rgb(h, lightness, s)
    mapped = QColor.fromRgbF(r, g, b, colour.alphaF())
    return int(mapped.rgba())


def dark_variant(colour: QColor | str) -> QColor:
    """The dark-theme counterpart of a colour chosen for the light theme.

    >>> dark_variant("#ffffff").lightness() < 60, dark_variant("#1f2933").lightness() > 200
    (True, True)
    """
    return QColor.fromRgba(_dark_rgba(QColor(colour).rgba()))


def themed(colour: QColor | str) -> QColor:
    """``colour`` (chosen for the light theme) as the theme in force shows it."""
    return dark_variant(colour) if is_dark() else QColor(colour)


_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def themed_css(css: str) -> str:
    """A light-theme style sheet with every ``#rrggbb`` mapped for the theme in force."""
    if not is_dark():
        return css
    return _HEX.sub(lambda m: dark_variant(m.group()).name(), css)


def set_themed_style(widget: QWidget, css: str) -> None:
    """``widget.setStyleSheet`` with light-theme colours, kept right across theme changes."""
    widget.setProperty(STYLE_PROPERTY, css)
    widget.setStyleSheet(themed_css(css))


def apply_theme(app: QApplication, choice: str = LIGHT) -> str:
    """Apply a theme (``"light"``, ``"dark"`` or ``"system"``); return the one applied.

    Also when switching while windows are open: the palette change reaches every
    widget (``QEvent.PaletteChange``) and themed style sheets are re-applied.
    """
    name = resolve_theme(choice)
    app.setStyle("Fusion")
    app.setPalette(_palette(name))
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSize(FONT_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(load_stylesheet(name))
    app.setProperty(THEME_PROPERTY, name)
    for widget in app.allWidgets():
        source = widget.property(STYLE_PROPERTY)
        if isinstance(source, str):
            widget.setStyleSheet(themed_css(source))
    return name

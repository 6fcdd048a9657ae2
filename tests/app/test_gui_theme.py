"""Themes: light and dark applied to the whole console, switched from the View menu,
remembered in the operator's preferences, followed by charts and code views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.mainwindow import MainWindow
from app.panels.metrics.chart_plot import ChartPlot
from app.panels.patches.side_by_side import SideBySideDiff
from app.panels.patches.side_by_side_model import side_by_side
from app.preferences import Preferences
from app.theme import (
    DARK,
    LIGHT,
    STYLE_PROPERTY,
    SYSTEM,
    apply_theme,
    current_theme,
    load_stylesheet,
    resolve_theme,
    set_themed_style,
    system_theme,
    themed,
    themed_css,
)
from app.widgets.code_view import CodeView, DiffHighlighter, formats_at
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD


@pytest.fixture
def app() -> Iterator[QApplication]:
    """The test application, put back in the light theme whatever the test did."""
    instance = QApplication.instance()
    assert isinstance(instance, QApplication)
    try:
        yield instance
    finally:
        apply_theme(instance, LIGHT)


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())
        )

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_dark_theme_applies_palette_and_stylesheet(app: QApplication, qtbot: QtBot) -> None:
    assert apply_theme(app, DARK) == DARK
    palette = app.palette()
    window, text = palette.color(QPalette.ColorRole.Window), palette.color(QPalette.ColorRole.Text)
    assert window.lightness() < 60
    assert contrast(window, text) >= 7.0, "body text readable on the window background"
    assert contrast(palette.color(QPalette.ColorRole.Base), text) >= 7.0
    assert app.styleSheet() == load_stylesheet(DARK) != load_stylesheet(LIGHT)
    assert current_theme() == DARK

    # Colours chosen for the light theme come out dark-theme ready.
    assert themed("#ffffff").lightness() < 60
    assert themed("#1f2933").lightness() > 200
    red = themed("#b42318")
    assert contrast(red, window) >= 4.5, "state colours stay readable"
    assert themed_css("QLabel { color: #102a43; }") != "QLabel { color: #102a43; }"

    assert apply_theme(app, LIGHT) == LIGHT
    assert app.palette().color(QPalette.ColorRole.Window) == QColor("#f4f6f9")
    assert themed("#ffffff") == QColor("#ffffff")
    assert themed_css("QLabel { color: #102a43; }") == "QLabel { color: #102a43; }"


def test_system_choice_follows_the_desktop(app: QApplication) -> None:
    assert resolve_theme(SYSTEM) == system_theme() in (LIGHT, DARK)
    assert apply_theme(app, SYSTEM) == system_theme()
    assert resolve_theme("nonsense") == system_theme()


def test_themed_style_sheets_follow_a_switch(app: QApplication, qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QLabel

    label = QLabel("hello")
    qtbot.addWidget(label)
    set_themed_style(label, "QLabel { color: #102a43; background: #ffffff; }")
    assert label.property(STYLE_PROPERTY)
    assert "#102a43" in label.styleSheet()
    apply_theme(app, DARK)
    assert "#102a43" not in label.styleSheet()
    assert label.styleSheet() == themed_css("QLabel { color: #102a43; background: #ffffff; }")
    apply_theme(app, LIGHT)
    assert "#102a43" in label.styleSheet()


def test_chart_and_code_views_follow_the_theme(app: QApplication, qtbot: QtBot) -> None:
    chart = ChartPlot()
    qtbot.addWidget(chart)
    view = CodeView("diffView", "")
    qtbot.addWidget(view)
    highlighter = DiffHighlighter(view.document())
    view.show_text("--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n")
    diff = SideBySideDiff("sideBySide")
    qtbot.addWidget(diff)
    diff.show_view(side_by_side({"m.py": "x = 1\n"}, {"m.py": "x = 2\n"}), "old", "new")
    for widget in (chart, view, diff):
        widget.show()

    def background() -> QColor:
        return chart.backgroundBrush().color()

    def added_foreground() -> QColor:
        return formats_at(highlighter, 4)[0].foreground().color()

    light_bg, light_added = background(), added_foreground()
    light_tints = [s.format.background().color() for s in diff.new_view.extraSelections()]
    assert light_bg.lightness() > 200

    apply_theme(app, DARK)
    assert background().lightness() < 60, "the chart background turned dark"
    assert chart.curve.opts["pen"].color().lightness() > 150, "the series is drawn light"
    assert added_foreground() != light_added
    assert contrast(added_foreground(), QColor("#1f242b")) >= 4.5
    dark_tints = [s.format.background().color() for s in diff.new_view.extraSelections()]
    assert dark_tints and all(c.lightness() < 90 for c in dark_tints)
    assert dark_tints != light_tints

    apply_theme(app, LIGHT)
    assert background() == light_bg
    assert added_foreground() == light_added


async def test_view_menu_switches_and_remembers_the_theme(
    app: QApplication, engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        preferences = Preferences.at(tmp_path / "prefs.ini")
        assert preferences.theme == SYSTEM, "the system's scheme by default"
        window = MainWindow(env.bridge, preferences=preferences)
        qtbot.addWidget(window)
        actions = window.desktop.theme_actions
        assert [a.text() for a in window.desktop.theme_menu.actions()] == [
            "&Light",
            "&Dark",
            "&System",
        ]
        assert actions[SYSTEM].isChecked()

        actions[DARK].trigger()
        assert current_theme() == DARK
        assert actions[DARK].isChecked() and not actions[SYSTEM].isChecked()
        assert Preferences.at(tmp_path / "prefs.ini").theme == DARK

        actions[LIGHT].trigger()
        assert current_theme() == LIGHT
        assert Preferences.at(tmp_path / "prefs.ini").theme == LIGHT

        # A new window (the next start) shows the remembered choice ticked.
        second = MainWindow(env.bridge, preferences=Preferences.at(tmp_path / "prefs.ini"))
        qtbot.addWidget(second)
        assert second.desktop.theme_actions[LIGHT].isChecked()


async def test_system_choice_follows_a_desktop_switch(
    app: QApplication, engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    hints = QGuiApplication.styleHints()
    if not hasattr(hints, "colorSchemeChanged"):
        pytest.skip("Qt before 6.5 does not report the desktop's colour scheme")
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = MainWindow(env.bridge, preferences=Preferences.at(tmp_path / "prefs.ini"))
        qtbot.addWidget(window)
        apply_theme(app, DARK if system_theme() == LIGHT else LIGHT)  # out of step
        hints.colorSchemeChanged.emit(hints.colorScheme())
        assert current_theme() == system_theme(), "System follows the desktop"

        window.desktop.theme_actions[DARK].trigger()
        hints.colorSchemeChanged.emit(hints.colorScheme())
        assert current_theme() == DARK, "an explicit choice stays"

"""The main window's desktop habits: View > Theme, View > Reset layout, panel navigation,
and the Help menu (keyboard shortcuts sheet, About).

:class:`DesktopMenus` owns these actions; the window keeps it as ``window.desktop``.
Choices are saved through :class:`~app.preferences.Preferences` when the window
has one (the console always does; tests may not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMenu

from app.about_dialog import AboutDialog
from app.shortcuts_dialog import SHORTCUT_DESCRIPTION, ShortcutsDialog
from app.theme import DARK, LIGHT, SYSTEM, apply_theme

if TYPE_CHECKING:
    from app.bridge import EngineBridge
    from app.preferences import Preferences

THEME_LABELS = {LIGHT: "&Light", DARK: "&Dark", SYSTEM: "&System"}
#: Methods a panel may offer for View > Refresh panel (F5), tried in this order.
REFRESH_METHODS = ("refresh", "reload")


class PanelHost(Protocol):
    """What the menus need of the window that docks the panels (the main window)."""

    view_menu: QMenu

    @property
    def bridge(self) -> EngineBridge: ...

    def panel_names(self) -> list[str]: ...

    def dock(self, name: str) -> QDockWidget: ...

    def show_panel(self, name: str, *, focus: bool = True) -> None: ...

    def reset_layout(self) -> None: ...


def _action(
    window: QMainWindow,
    name: str,
    text: str,
    shortcuts: tuple[str, ...],
    tip: str,
    slot: Callable[[], object],
) -> QAction:
    action = QAction(text, window)
    action.setObjectName(name)
    action.setShortcuts([QKeySequence(s) for s in shortcuts])
    action.setStatusTip(tip)
    action.setToolTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)  # active even when the menu bar is hidden
    return action


class DesktopMenus(QObject):
    """Builds its menu entries into ``window``; ``themeChanged(name)`` after a switch.

    ``panels`` is the same window seen as what hosts the panels."""

    themeChanged = Signal(str)

    def __init__(
        self, window: QMainWindow, panels: PanelHost, preferences: Preferences | None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.panels = panels
        self.preferences = preferences
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.about_dialog: AboutDialog | None = None
        self.choice = preferences.theme if preferences is not None else None
        self._build_view_menu(panels.view_menu)
        self._build_help_menu(window.menuBar().addMenu("&Help"))
        changed = getattr(QGuiApplication.styleHints(), "colorSchemeChanged", None)  # Qt >= 6.5
        if changed is not None:
            changed.connect(self._system_scheme_changed)

    def _system_scheme_changed(self, *_: object) -> None:
        """The desktop switched between light and dark: follow it if the choice is System."""
        if self.choice == SYSTEM:
            self.set_theme(SYSTEM)

    # -- View ------------------------------------------------------------------------------
    def _build_view_menu(self, menu: QMenu) -> None:
        window = self.window
        # Panel toggles (added later by add_panel) go above this separator.
        self.panels_end = menu.addSeparator()
        self.refresh_action = _action(
            window,
            "refreshPanelAction",
            "&Refresh panel",
            ("F5",),
            "Read the current panel's data from the engine again",
            self.refresh_current,
        )
        self.next_panel_action = _action(
            window,
            "nextPanelAction",
            "&Next panel",
            ("Ctrl+PgDown",),
            "Show the next panel",
            lambda: self.cycle_panel(1),
        )
        self.previous_panel_action = _action(
            window,
            "previousPanelAction",
            "&Previous panel",
            ("Ctrl+PgUp",),
            "Show the previous panel",
            lambda: self.cycle_panel(-1),
        )
        self.full_screen_action = _action(
            window,
            "fullScreenAction",
            "&Full screen",
            ("F11",),
            "Use the whole screen for the console",
            self.toggle_full_screen,
        )
        self.full_screen_action.setCheckable(True)
        for action in (self.refresh_action, self.next_panel_action, self.previous_panel_action):
            menu.addAction(action)
        self.go_menu = menu.addMenu("&Go to panel")
        self.go_menu.setObjectName("goToPanelMenu")
        self.go_actions: dict[str, QAction] = {}
        menu.addSeparator()
        theme_menu = menu.addMenu("&Theme")
        theme_menu.setObjectName("themeMenu")
        self.theme_group = QActionGroup(self)
        self.theme_group.setExclusive(True)
        self.theme_actions: dict[str, QAction] = {}
        current = self.preferences.theme if self.preferences is not None else None
        for choice, label in THEME_LABELS.items():
            action = QAction(label, self)
            action.setObjectName(f"themeAction-{choice}")
            action.setCheckable(True)
            action.setChecked(choice == current)
            action.setStatusTip(
                "Follow the desktop's light or dark colour scheme"
                if choice == SYSTEM
                else f"Use the {choice} theme"
            )
            action.triggered.connect(lambda _checked=False, c=choice: self.set_theme(c))
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[choice] = action
        self.theme_menu = theme_menu
        menu.addAction(self.full_screen_action)
        self.reset_layout_action = _action(
            window,
            "resetLayoutAction",
            "Reset &layout",
            (),
            "Put every panel back where it was at first start",
            self.panels.reset_layout,
        )
        menu.addAction(self.reset_layout_action)

    def add_go_to(self, name: str, keys: QKeySequence) -> QAction:
        """View > Go to panel > ``name`` with ``keys``: show the panel and focus it."""
        action = _action(
            self.window,
            f"showPanelAction-{name.lower().replace(' ', '-')}",
            name,
            (keys.toString(),),
            f"Bring the {name} panel to the front",
            lambda: self.go_to(name),
        )
        action.setProperty(SHORTCUT_DESCRIPTION, f"Show the {name} panel")
        self.go_menu.addAction(action)
        self.go_actions[name] = action
        return action

    def go_to(self, name: str) -> None:
        self.panels.show_panel(name)

    def set_theme(self, choice: str) -> str:
        """Apply ``choice`` (light, dark, system), remember it, return the theme applied."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            raise RuntimeError("no QApplication")
        name = apply_theme(app, choice)
        self.choice = choice
        self.theme_actions[choice].setChecked(True)
        if self.preferences is not None:
            self.preferences.theme = choice
        self.themeChanged.emit(name)
        return name

    def _docks(self) -> list[QDockWidget]:
        return [self.panels.dock(name) for name in self.panels.panel_names()]

    def current_dock(self) -> QDockWidget | None:
        """The panel the operator is looking at: the one with the focus, else the first
        one visible on top of its tab group."""
        docks = self._docks()
        focus = QApplication.focusWidget()
        for dock in docks:
            if focus is not None and dock.isAncestorOf(focus):
                return dock
        for dock in docks:
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                return dock
        return None

    def refresh_current(self) -> bool:
        """Call the current panel's ``refresh()`` (or ``reload()``); False if it has none."""
        dock = self.current_dock()
        panel = dock.widget() if dock is not None else None
        for name in REFRESH_METHODS:
            method = getattr(panel, name, None)
            if callable(method):
                method()
                return True
        return False

    def cycle_panel(self, step: int) -> str | None:
        names = self.panels.panel_names()
        if not names:
            return None
        current = self.current_dock()
        docks = self._docks()
        index = docks.index(current) if current in docks else -1
        name = names[(index + step) % len(names)]
        self.go_to(name)
        return name

    def toggle_full_screen(self) -> None:
        window = self.window
        window.setWindowState(window.windowState() ^ Qt.WindowState.WindowFullScreen)
        self.full_screen_action.setChecked(window.isFullScreen())

    # -- Help ------------------------------------------------------------------------------
    def _build_help_menu(self, menu: QMenu) -> None:
        menu.setObjectName("helpMenu")
        self.help_menu = menu
        self.shortcuts_action = _action(
            self.window,
            "shortcutsAction",
            "&Keyboard shortcuts",
            ("F1", "Ctrl+/"),
            "List every keyboard shortcut of the console",
            self.show_shortcuts,
        )
        self.about_action = _action(
            self.window,
            "aboutAction",
            "&About CHIMERA Console",
            (),
            "Version, licence and where the data lives",
            self.show_about,
        )
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)

    def show_shortcuts(self) -> ShortcutsDialog:
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.close()
            self.shortcuts_dialog.deleteLater()
        self.shortcuts_dialog = ShortcutsDialog(self.window)
        self.shortcuts_dialog.open()
        return self.shortcuts_dialog

    def show_about(self) -> AboutDialog:
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self.panels.bridge, self.window)
        self.about_dialog.open()
        return self.about_dialog

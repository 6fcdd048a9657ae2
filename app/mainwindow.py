"""The main window: a dock layout panels plug into, menus, and the status bar."""

from __future__ import annotations

import re
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from app.bridge import EngineBridge
from app.desktop_menus import DesktopMenus
from app.preferences import LAYOUT_VERSION, Preferences
from app.widgets.confirm import confirm
from app.widgets.status import EngineStateIndicator, LagIndicator, UserIndicator
from app.widgets.style import set_severity
from chimera_engine.security.manager import Session

APP_TITLE = "CHIMERA Console"
#: Background work shorter than this never shows "Working…" in the status bar.
BUSY_DELAY_MS = 300
#: A panel floated out of the window is at least this large (within the screen).
FLOAT_MIN = (900, 600)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "panel"


class MainWindow(QMainWindow):
    """Hosts the feature panels as tabified docks; reports through the status bar.

    The window does not end sessions or stop the engine itself: it emits
    :attr:`logoutRequested` (File > Log out) and :attr:`quitRequested` (File > Quit
    or closing the window) for whoever runs the application flow.

    With ``preferences``, the window and dock layout is restored when it is first
    shown and saved when it closes; View > Reset layout returns to the layout
    the panels had when they were added.
    """

    logoutRequested = Signal()
    quitRequested = Signal()

    def __init__(
        self,
        bridge: EngineBridge,
        parent: QWidget | None = None,
        *,
        preferences: Preferences | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.preferences = preferences
        self._docks: dict[str, QDockWidget] = {}
        #: Panels added with :meth:`add_lazy_panel` and not built yet, by name.
        self._builders: dict[str, Callable[[], QWidget]] = {}
        self._quiet_close = False
        self._quit_confirmed = False
        self.quit_box: QMessageBox | None = None
        self._default_layout: tuple[QByteArray, QByteArray] | None = None
        #: Set while panels are still being added to a window already shown.
        self.panels_pending = False
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )
        self.setDocumentMode(True)
        self.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)
        self._build_menus()
        self._build_status_bar()

        bridge.sessionChanged.connect(self._session_changed)
        bridge.engineStateChanged.connect(self.engine_indicator.set_state)
        bridge.loopLag.connect(self.lag_indicator.set_p99)
        bridge.errorRaised.connect(self.show_error)
        bridge.busyChanged.connect(self._busy_changed)
        self._session_changed(bridge.session)
        self._busy_changed(bridge.busy)

    # -- construction ----------------------------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setObjectName("fileMenu")
        self.logout_action = QAction("Log &out", self)
        self.logout_action.setObjectName("logoutAction")
        self.logout_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.logout_action.setStatusTip("End this session and return to the sign-in dialog")
        self.logout_action.triggered.connect(self.request_logout)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setObjectName("quitAction")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.setStatusTip("Stop the engine and close the console")
        self.quit_action.triggered.connect(self.close)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setObjectName("settingsAction")
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.setStatusTip(
            "Data dir, workspace, LLM provider, alerts, patch policy, swarm and API "
            "(changing them requires settings.manage)"
        )
        self.settings_action.triggered.connect(self.open_settings)
        self.settings_dialog: QWidget | None = None
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.logout_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.view_menu = bar.addMenu("&View")
        self.view_menu.setObjectName("viewMenu")
        self.desktop = DesktopMenus(self, self, self.preferences)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setObjectName("statusBar")
        status.setSizeGripEnabled(False)
        status.setContentsMargins(4, 0, 8, 0)  # the last pill clear of the window's edge
        self.busy_label = QLabel("Working…", self)
        self.busy_label.setObjectName("busyIndicator")
        self.busy_label.hide()
        status.addWidget(self.busy_label)
        # Shown only for work that lasts: short background reads (a panel's refresh every
        # second) would otherwise make the status bar flicker and relayout.
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(self.busy_label.show)
        self.user_indicator = UserIndicator(self)
        self.engine_indicator = EngineStateIndicator(self._bridge.engine_state, self)
        self.lag_indicator = LagIndicator(self)
        self.api_indicator = QLabel(self)
        self.api_indicator.setObjectName("apiIndicator")
        self.api_indicator.setProperty("statusPill", True)
        api = self._bridge.api_address()
        if api is not None:
            # Anyone who can reach this port can try the HTTP API: say it is open.
            port, url = api
            self.api_indicator.setText(f"API :{port}")
            self.api_indicator.setToolTip(f"The HTTP and WebSocket API listens on {url}")
            set_severity(self.api_indicator, "muted")
        else:
            self.api_indicator.hide()
        for widget in (
            self.api_indicator,
            self.user_indicator,
            self.engine_indicator,
            self.lag_indicator,
        ):
            status.addPermanentWidget(widget)

    # -- panels ----------------------------------------------------------------------------
    def add_panel(self, name: str, widget: QWidget) -> QDockWidget:
        """Dock ``widget`` under ``name``, tabified with the panels already there,
        and list it in the View menu."""
        dock = self._add_dock(name)
        self._put(dock, widget)
        dock.raise_()
        return dock

    def add_lazy_panel(self, name: str, build: Callable[[], QWidget]) -> QDockWidget:
        """Like :meth:`add_panel`, but the panel is built by ``build`` only when it is first
        shown (its tab selected, :meth:`show_panel`) or asked for (:meth:`panel`): a panel
        never looked at costs no start-up time and runs no timers."""
        dock = self._add_dock(name)
        placeholder = QLabel("Loading…", dock)
        placeholder.setObjectName("panelPlaceholder")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        dock.setWidget(placeholder)
        self._builders[name] = build
        dock.visibilityChanged.connect(
            lambda visible: self._build_pending(name) if visible else None
        )
        return dock

    def is_built(self, name: str) -> bool:
        """False while a lazily added panel has not been built yet."""
        return name in self._docks and name not in self._builders

    def _build_pending(self, name: str) -> None:
        build = self._builders.pop(name, None)
        if build is None:
            return
        dock = self._docks[name]
        old = dock.widget()
        widget = build()
        self._put(dock, widget)
        if old is not None:
            old.deleteLater()

    def _put(self, dock: QDockWidget, widget: QWidget) -> None:
        dock.setWidget(widget)
        # A dock behind another tab stays "visible" to Qt; hiding its panel lets the panel
        # stop its timers (hideEvent) until its tab is selected again.
        dock.visibilityChanged.connect(widget.setVisible)

    def _add_dock(self, name: str) -> QDockWidget:
        if name in self._docks:
            raise ValueError(f"a panel named {name!r} already exists")
        dock = QDockWidget(name, self)
        dock.setObjectName(f"dock-{_slug(name)}")
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        dock.topLevelChanged.connect(
            lambda floating: QTimer.singleShot(0, lambda: self._floated(dock)) if floating else None
        )
        first = next(iter(self._docks.values()), None)
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, dock)
        if first is not None:
            self.tabifyDockWidget(first, dock)
        self._docks[name] = dock
        action = dock.toggleViewAction()  # checked while open: unchecking closes the panel
        action.setObjectName(f"viewAction-{_slug(name)}")
        self.view_menu.insertAction(self.desktop.panels_end, action)
        if len(self._docks) <= 9:  # Alt+N brings the panel to the front (never closes it)
            self.desktop.add_go_to(name, QKeySequence(f"Alt+{len(self._docks)}"))
        return dock

    def _floated(self, dock: QDockWidget) -> None:
        """A panel just floated: give it a useful size (Qt keeps its tab's tiny one),
        within the screen it is on."""
        if not shiboken6.isValid(dock) or not dock.isFloating():
            return
        width = max(FLOAT_MIN[0], round(self.width() * 0.75))
        height = max(FLOAT_MIN[1], round(self.height() * 0.75))
        screen = dock.screen() or self.screen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, area.width()), min(height, area.height())
        dock.resize(width, height)

    def request_logout(self) -> None:
        self.logoutRequested.emit()

    def open_settings(self) -> QWidget:
        """Show the Settings dialog (non-modal; read-only without settings.manage)."""
        from app.panels.settings.dialog import SettingsDialog  # loaded on first use

        if self.settings_dialog is not None and shiboken6.isValid(self.settings_dialog):
            self.settings_dialog.close()
        dialog = SettingsDialog(self._bridge, self)
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def panel(self, name: str) -> QWidget:
        """The panel's widget (a lazily added panel is built now)."""
        self._build_pending(name)
        widget = self._docks[name].widget()
        if widget is None:
            raise KeyError(name)
        return widget

    def dock(self, name: str) -> QDockWidget:
        return self._docks[name]

    @property
    def bridge(self) -> EngineBridge:
        return self._bridge

    def panel_names(self) -> list[str]:
        return list(self._docks)

    def show_panel(self, name: str, *, focus: bool = True) -> None:
        """Bring panel ``name`` to the front and (unless ``focus`` is False) give it the
        keyboard focus, so its single-key shortcuts work at once."""
        dock = self._docks[name]
        dock.show()
        dock.raise_()
        if focus:
            self.focus_panel(name)

    def focus_panel(self, name: str) -> None:
        """Focus the panel (its focus proxy, e.g. its main table). A panel behind another
        tab becomes visible only once the tab switch is handled, so focus is given again
        right after it."""
        widget = self.panel(name)

        def give() -> None:
            if shiboken6.isValid(widget) and widget.isVisible():
                widget.setFocus(Qt.FocusReason.OtherFocusReason)

        give()
        QTimer.singleShot(0, give)

    # -- reactions -------------------------------------------------------------------------
    def _session_changed(self, session: Session | None) -> None:
        self.user_indicator.set_session(session)
        # The window system adds the application's name (" — CHIMERA Console") itself.
        if session is None:
            self.setWindowTitle(APP_TITLE)
        else:
            self.setWindowTitle(session.principal.name)

    def _busy_changed(self, busy: bool) -> None:
        if busy:
            if not self.busy_label.isVisible():
                self._busy_timer.start()
        else:
            self._busy_timer.stop()
            if self.busy_label.isVisible():
                self.busy_label.hide()

    def show_error(self, title: str, message: str) -> QMessageBox:
        """Show an error without blocking the event loop (``open()``, never ``exec()``)."""
        for box in self.error_boxes():
            if box.isVisible() and box.windowTitle() == title and box.text() == message:
                return box
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()
        return box

    def error_boxes(self) -> list[QMessageBox]:
        return [box for box in self.findChildren(QMessageBox) if box.objectName() == "errorBox"]

    # -- layout ----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        if self._default_layout is None and not self.panels_pending:
            self.complete_layout()  # first show: every panel is in by now
        super().showEvent(event)

    def complete_layout(self) -> None:
        """Every panel is in: remember this layout as the default, then restore the saved
        one. Called at the first show, or (with :attr:`panels_pending` set before the window
        was shown) once the last panel was added to a window already on screen."""
        self.panels_pending = False
        if self._default_layout is None:
            self._default_layout = (self.saveGeometry(), self.saveState(LAYOUT_VERSION))
            self.restore_layout()

    def restore_layout(self) -> bool:
        """Restore the saved geometry and dock layout; False if none (or it is unusable)."""
        saved = self.preferences.layout() if self.preferences is not None else None
        if saved is None:
            return False
        geometry, state = saved
        return self.restoreGeometry(geometry) and self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        if self.preferences is not None and self._default_layout is not None:
            self.preferences.save_layout(self.saveGeometry(), self.saveState(LAYOUT_VERSION))

    def reset_layout(self) -> None:
        """Every panel back where it was before any saved layout was applied; forget it."""
        if self._default_layout is not None:
            geometry, state = self._default_layout
            self.restoreGeometry(geometry)
            self.restoreState(state, LAYOUT_VERSION)
        for dock in self._docks.values():
            dock.show()
        if self._docks:
            self.show_panel(next(iter(self._docks)))
        if self.preferences is not None:
            self.preferences.clear_layout()

    # -- closing ---------------------------------------------------------------------------
    def close_quietly(self) -> None:
        """Close without asking to quit the application (used after a logout)."""
        self._quiet_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._quiet_close and not self._quit_confirmed:
            # Quitting stops the embedded engine (agents, API, running tasks): ask first.
            event.ignore()
            self.confirm_quit()
            return
        if self.isVisible():  # a second close of a hidden window must not save its state
            self.save_layout()
        if not self._quiet_close:
            self.quitRequested.emit()
        event.accept()

    def confirm_quit(self) -> QMessageBox:
        """Ask before quitting (File > Quit, Ctrl+Q or the window's close button)."""
        box = self.quit_box
        if box is not None and shiboken6.isValid(box) and box.isVisible():
            box.raise_()
            return box
        self.quit_box = confirm(
            self,
            "Quit CHIMERA Console",
            "Quit and stop the engine?",
            "Quit",
            self._quit_confirmed_by_user,
            detail="The agents, the API server and every running task stop with it. "
            "File > Log out keeps the engine running.",
        )
        return self.quit_box

    def _quit_confirmed_by_user(self) -> None:
        self._quit_confirmed = True
        self.close()

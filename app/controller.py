"""The application flow: sign in (or create the first administrator), operate, repeat.

:meth:`ConsoleController.run` is a coroutine on the qasync loop. It shows the
dialogs non-modally and awaits their signals; it never spins a nested event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QWidget

from app.bridge import EngineBridge, describe_error
from app.demo_menu import DemoMenu
from app.dialogs.first_admin import FirstAdminDialog
from app.dialogs.login import LoginDialog
from app.mainwindow import MainWindow
from app.preferences import Preferences
from app.signals import first_signal
from app.views.admin import AdminPanel
from app.views.audit import AuditPanel
from app.views.modules import ModulesPanel
from app.views.overview import attach_overview
from app.views.patches import PatchesPanel
from app.views.swarm import SwarmPanel
from chimera_engine.security.manager import Session

log = logging.getLogger(__name__)

WINDOW_SIZE = (1280, 800)
SESSION_ENDED = "Your session ended; sign in again to continue."


def _default_admin_name() -> str:
    with contextlib.suppress(Exception):
        name = getpass.getuser()
        if name and name != "root":
            return name
    return "admin"


class ConsoleController(QObject):
    """Runs the sign-in / main-window cycle until the operator quits.

    ``probe``, when given, is called as soon as the first dialog is shown and the
    flow then ends (used to measure start-up time).
    """

    dialogShown = Signal(object)  # LoginDialog | FirstAdminDialog
    mainWindowShown = Signal(object)  # MainWindow

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        probe: Callable[[], None] | None = None,
        window_size: tuple[int, int] = WINDOW_SIZE,
        preferences: Preferences | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.preferences = preferences
        self.probe = probe
        self.window_size = window_size
        self.dialog: LoginDialog | FirstAdminDialog | None = None
        self.window: MainWindow | None = None
        self.demo_menu: DemoMenu | None = None
        self._last_username = ""
        self._notice = ""

    async def run(self) -> int:
        """Return the process exit code (0: the operator quit)."""
        try:
            while True:
                notice, self._notice = self._notice, ""
                session = await self.authenticate(notice)
                if session is None:
                    return 0
                outcome = await self.operate(session)
                if outcome == "quit":
                    return 0
                if outcome == "ended":
                    self._notice = self._notice or SESSION_ENDED
        finally:
            self._discard(self.dialog)
            self.dialog = None
            if self.window is not None:
                self.window.close_quietly()
                self._discard(self.window)
                self.window = None

    # -- signing in ------------------------------------------------------------------------
    async def authenticate(self, notice: str = "") -> Session | None:
        """Show the first-administrator or the sign-in dialog; ``None`` if closed."""
        if await self.bridge.needs_first_admin():
            first = FirstAdminDialog(self.bridge, username=_default_admin_name())
            dialog: LoginDialog | FirstAdminDialog = first
            done = first.adminCreated
        else:
            login = LoginDialog(self.bridge, username=self._last_username)
            if notice:
                login.error_label.show_error(notice)
            dialog = login
            done = login.loggedIn
        self.dialog = dialog
        try:
            dialog.open()
            self.dialogShown.emit(dialog)
            if self.probe is not None:
                await asyncio.sleep(0)  # let Qt handle the show and first paint events
                self.probe()
                return None
            name, args = await first_signal({"done": done, "closed": dialog.rejected})
        finally:
            self._discard(dialog)
            self.dialog = None
        if name != "done":
            return None
        session: Session = args[0]
        self._last_username = session.principal.name
        return session

    # -- operating -------------------------------------------------------------------------
    def build_main_window(self) -> MainWindow:
        window = MainWindow(self.bridge, preferences=self.preferences)
        attach_overview(window, self.bridge)
        # Imported here: the dashboard pulls in pyqtgraph, kept out of start-up.
        from app.views.dashboard import DashboardPanel

        window.add_panel("Dashboard", DashboardPanel(self.bridge))
        window.add_panel("Modules", ModulesPanel(self.bridge))
        window.add_panel("Patches", PatchesPanel(self.bridge))
        window.add_panel("Swarm", SwarmPanel(self.bridge))
        window.add_panel("Audit", AuditPanel(self.bridge))
        window.add_panel("Admin", AdminPanel(self.bridge))
        self.demo_menu = DemoMenu(window, self.bridge)
        window.show_panel("Overview", focus=False)
        window.resize(*self.window_size)
        return window

    async def operate(self, session: Session) -> str:
        """Show the main window until logout (``"logout"``), quit (``"quit"``) or the
        engine ending the session (``"ended"``)."""
        window = self.build_main_window()
        self.window = window
        window.show()
        self.mainWindowShown.emit(window)
        try:
            while True:
                name, args = await first_signal(
                    {
                        "logout": window.logoutRequested,
                        "quit": window.quitRequested,
                        "session": self.bridge.sessionChanged,
                    }
                )
                if name != "session":
                    break
                if args[0] is None:
                    name = "ended"
                    break
            if name in ("logout", "quit"):
                await self._end_session()
            return name
        finally:
            window.close_quietly()
            self._discard(window)
            self.window = None

    async def _end_session(self) -> None:
        try:
            await self.bridge.logout()
        except Exception as exc:
            # The local session is gone either way; the operator should know the
            # engine could not record or revoke it (shown again in the sign-in dialog).
            self.bridge.report("Sign out was not recorded", exc)
            self._notice = f"Signed out here, but the engine reported: {describe_error(exc)}"

    @staticmethod
    def _discard(widget: QWidget | QDialog | None) -> None:
        if widget is None:
            return
        with contextlib.suppress(RuntimeError):  # already deleted on the C++ side
            widget.hide()
            widget.deleteLater()

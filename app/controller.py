"""The application flow: sign in (or create the first administrator), operate, repeat.

:meth:`ConsoleController.run` is a coroutine on the qasync loop. It shows the
dialogs non-modally and awaits their signals; it never spins a nested event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QWidget

from app.bridge import EngineBridge, describe_error
from app.mainwindow import MainWindow
from app.panels.demo.menu import DemoMenu
from app.panels.overview.view import attach_overview
from app.panels.signin.first_admin import FirstAdminDialog
from app.panels.signin.login import LoginDialog
from app.preferences import Preferences
from app.signals import first_signal
from chimera_engine.security.manager import Session

log = logging.getLogger(__name__)

WINDOW_SIZE = (1280, 800)
SESSION_ENDED = "Your session ended; sign in again to continue."


def preload_panels() -> None:
    """Import what the panels need that is slow to import (runs in a worker thread:
    module imports create no Qt objects that belong to a thread)."""
    import app.panels.admin.view
    import app.panels.audit.view
    import app.panels.metrics.view  # (pyqtgraph, numpy, the anomaly engine)
    import app.panels.modules.view
    import app.panels.patches.view
    import app.panels.swarm.view  # noqa: F401


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
    mainWindowOpened = Signal(object)  # MainWindow, on screen with the Overview only
    mainWindowShown = Signal(object)  # MainWindow, every panel in

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        probe: Callable[[], None] | None = None,
        window_size: tuple[int, int] = WINDOW_SIZE,
        preferences: Preferences | None = None,
        engine_started: asyncio.Future[None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        #: The engine's start still under way behind the sign-in dialog (if any): the
        #: main window opens once it has finished.
        self.engine_started = engine_started
        self.preferences = preferences
        self.probe = probe
        self.window_size = window_size
        self.dialog: LoginDialog | FirstAdminDialog | None = None
        self.window: MainWindow | None = None
        self.demo_menu: DemoMenu | None = None
        self._last_username = ""
        self._notice = ""
        self._preload: asyncio.Future[None] | None = None

    async def run(self) -> int:
        """Return the process exit code (0: the operator quit)."""
        try:
            while True:
                notice, self._notice = self._notice, ""
                session = await self.authenticate(notice)
                if session is None:
                    return 0
                if self.engine_started is not None:
                    await self.engine_started  # (raises if the start failed: the flow stops)
                outcome = await self.operate(session)
                if outcome == "quit":
                    return 0
                if outcome == "ended":
                    self._notice = self._notice or SESSION_ENDED
        finally:
            if self._preload is not None:  # a worker thread still importing: let it end
                await asyncio.gather(self._preload, return_exceptions=True)
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
            if self.probe is None:
                self.start_preload()
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
    def panel_factories(self) -> list[tuple[str, Callable[[], QWidget]]]:
        """The panels after the Overview, in order, each as a name and a builder."""
        # Imported when built: the panels (the dashboard with pyqtgraph and numpy) are kept
        # out of start-up, and imported in a worker thread while the sign-in dialog is up.
        bridge = self.bridge

        def dashboard() -> QWidget:
            from app.panels.metrics.view import DashboardPanel

            return DashboardPanel(bridge)

        def modules() -> QWidget:
            from app.panels.modules.view import ModulesPanel

            return ModulesPanel(bridge)

        def patches() -> QWidget:
            from app.panels.patches.view import PatchesPanel

            return PatchesPanel(bridge)

        def swarm() -> QWidget:
            from app.panels.swarm.view import SwarmPanel

            return SwarmPanel(bridge)

        def audit() -> QWidget:
            from app.panels.audit.view import AuditPanel

            return AuditPanel(bridge)

        def admin() -> QWidget:
            from app.panels.admin.view import AdminPanel

            return AdminPanel(bridge)

        return [
            ("Dashboard", dashboard),
            ("Modules", modules),
            ("Patches", patches),
            ("Swarm", swarm),
            ("Audit", audit),
            ("Admin", admin),
        ]

    def build_main_window(self) -> MainWindow:
        """The main window with every panel, built at once (tests, benchmarks)."""
        window = self._start_window()
        for name, build in self.panel_factories():
            window.add_panel(name, build())
        return self._finish_window(window)

    async def open_main_window(self) -> MainWindow:
        """Show the main window at once with the Overview only (:attr:`mainWindowOpened`);
        :meth:`add_panels` adds the others. Built, then shown on the next turn of the loop:
        two shorter steps instead of one long one."""
        window = self._start_window()
        window.panels_pending = True
        window.resize(*self.window_size)
        window.show_panel("Overview", focus=False)
        self.window = window
        await asyncio.sleep(0)
        window.show()
        self.mainWindowOpened.emit(window)
        return window

    async def add_panels(self, window: MainWindow, stop: asyncio.Future[str]) -> bool:
        """Add the other panels' tabs; each panel is built when first shown (lazily), so
        signing in never waits for a panel the operator has not looked at, and the engine
        (agents' heartbeats, the API, the demo) keeps running meanwhile. False if ``stop``
        ended first (the operator signed out or quit while they were added)."""
        for name, build in self.panel_factories():
            await asyncio.sleep(0)
            if stop.done():
                return False
            window.add_lazy_panel(name, build)
        window.show_panel("Overview", focus=False)
        self.demo_menu = DemoMenu(window, self.bridge)
        window.complete_layout()
        return True

    def _start_window(self) -> MainWindow:
        window = MainWindow(self.bridge, preferences=self.preferences)
        attach_overview(window, self.bridge)
        return window

    def _finish_window(self, window: MainWindow) -> MainWindow:
        self.demo_menu = DemoMenu(window, self.bridge)
        window.show_panel("Overview", focus=False)
        window.resize(*self.window_size)
        return window

    def start_preload(self) -> None:
        """Import the panels' heavy modules (pyqtgraph, numpy, the anomaly models) in a
        worker thread while the operator types a password; once."""
        if self._preload is None:
            self._preload = asyncio.ensure_future(asyncio.to_thread(preload_panels))

    async def preloaded(self) -> None:
        """Wait for the preload (without blocking the loop); import here if it failed."""
        self.start_preload()
        assert self._preload is not None
        try:
            await self._preload
        except Exception as exc:  # the imports then run on the loop, as before
            log.warning("preloading the panels failed: %s", exc)

    async def operate(self, session: Session) -> str:
        """Show the main window until logout (``"logout"``), quit (``"quit"``) or the
        engine ending the session (``"ended"``)."""
        window = await self.open_main_window()
        outcome = asyncio.ensure_future(self._outcome(window))
        try:
            if await self.add_panels(window, outcome):
                self.mainWindowShown.emit(window)
            name = await outcome
            if name in ("logout", "quit"):
                await self._end_session()
            return name
        finally:
            if not outcome.done():
                outcome.cancel()
                await asyncio.gather(outcome, return_exceptions=True)
            window.close_quietly()
            self._discard(window)
            self.window = None
            self.demo_menu = None
            # The dashboard froze its charts' objects out of the cyclic GC; the window is
            # gone, so let the collector see (and free) them again.
            gc.unfreeze()

    async def _outcome(self, window: MainWindow) -> str:
        while True:
            name, args = await first_signal(
                {
                    "logout": window.logoutRequested,
                    "quit": window.quitRequested,
                    "session": self.bridge.sessionChanged,
                }
            )
            if name != "session":
                return name
            if args[0] is None:
                return "ended"

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

"""``chimera-console``: the QApplication, the qasync loop, the engine and the sign-in flow.

Start-up is kept lean (no pyqtgraph, numpy or scikit-learn here): the sign-in
dialog should be on screen well within 1.5 s of the process starting.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from app.bridge import EngineBridge, describe_error
from app.controller import ConsoleController
from app.engine_start import start_until_sign_in
from app.platform_check import missing_xcb_libraries, xcb_advice
from app.preferences import APP_NAME, ORG_NAME, Preferences
from app.qt_loop import ConsoleEventLoop
from app.signals import wait_signal
from app.startup import bridge_for
from app.theme import LIGHT, app_icon, apply_theme
from chimera_engine.config import Settings, load_settings
from chimera_engine.errors import ChimeraError, ConfigError
from chimera_engine.node import HeartNode

log = logging.getLogger("app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chimera-console", description="Operator console for the CHIMERA engine."
    )
    parser.add_argument("--data-dir", type=Path, help="where the database and secrets live")
    parser.add_argument("--config", type=Path, help="TOML settings file to read")
    parser.add_argument("--workspace", type=Path, help="folder of tool modules to run")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start the engine and the GUI offscreen, sign in as a temporary administrator, "
        "open every panel, check the loop lag; exit 0 or print what failed (exit 1). "
        "Uses a temporary data directory unless --data-dir is given",
    )
    parser.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    return parser


def seconds_since_process_start() -> float:
    """Seconds since this process was created.

    On Linux from /proc (10 ms resolution); elsewhere through psutil, imported
    only here (its creation time can be coarser there).
    """
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        start_ticks = int(fields[19])  # field 22, "starttime", in clock ticks since boot
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        import psutil

        return max(0.0, time.time() - float(psutil.Process().create_time()))


def print_startup_probe() -> None:
    print(f"startup-probe login-window-shown {seconds_since_process_start():.3f}", flush=True)


def create_application(argv0: str, theme: str = LIGHT) -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([argv0])
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("chimera-console")
    app.setWindowIcon(app_icon())
    # The flow decides when to quit: between the dialog and the main window no
    # window is visible for a moment, which must not end the application.
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app, theme)
    return app


async def show_critical(title: str, message: str) -> None:
    """A critical message box shown with ``open()``; returns when it is dismissed."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok)
    box.setObjectName("startupErrorBox")
    box.open()
    try:
        await wait_signal(box.finished)
    finally:
        box.deleteLater()


class ErrorHooks:
    """Route exceptions that escape slots and tasks to the operator, not only to stderr."""

    def __init__(self, bridge: EngineBridge, loop: asyncio.AbstractEventLoop) -> None:
        self._bridge = bridge
        self._loop = loop
        self._previous_hook = sys.excepthook
        self._previous_handler = loop.get_exception_handler()

    def install(self) -> None:
        sys.excepthook = self._excepthook
        self._loop.set_exception_handler(self._loop_handler)

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        self._loop.set_exception_handler(self._previous_handler)

    def _excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, KeyboardInterrupt):
            self._previous_hook(kind, exc, tb)
            return
        self._bridge.report("Unexpected error", exc.with_traceback(tb))

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, Exception):
            self._bridge.report("Unexpected error in a background task", exc)
        else:
            loop.default_exception_handler(context)


async def run_console(
    settings: Settings,
    *,
    probe: Callable[[], None] | None = None,
    preferences: Preferences | None = None,
) -> int:
    """Start the engine, run the sign-in / main-window flow, stop everything. Exit code."""
    node = HeartNode(settings)
    try:
        # The dialog comes up once accounts can sign in; the rest starts behind it.
        started = await start_until_sign_in(node)
    except Exception as exc:
        message = describe_error(exc)
        if not isinstance(exc, ChimeraError):  # DataDirError, StoreError are expected
            log.error("engine start failed", exc_info=exc)
        print(f"chimera-console: the engine could not start: {message}", file=sys.stderr)
        if probe is None:
            await show_critical("CHIMERA Console cannot start", message)
        return 1
    bridge = bridge_for(node)
    hooks = ErrorHooks(bridge, asyncio.get_running_loop())
    hooks.install()
    controller = ConsoleController(
        bridge, probe=probe, preferences=preferences, engine_started=started
    )
    try:
        return await controller.run()
    except Exception as exc:  # the flow itself failed (e.g. the store broke): say so
        log.error("the console stopped", exc_info=exc)
        print(f"chimera-console: stopped: {describe_error(exc)}", file=sys.stderr)
        if probe is None:
            await show_critical("CHIMERA Console stopped", describe_error(exc))
        return 1
    finally:
        hooks.uninstall()
        await asyncio.gather(started, return_exceptions=True)  # (a start that failed: stop)
        await bridge.aclose()
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.WARNING if args.self_test else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO (one line per demo health check): warnings only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.self_test:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        if args.data_dir is None:
            with tempfile.TemporaryDirectory(prefix="chimera-selftest-") as tmp:
                args.data_dir = Path(tmp)
                return _main(args)
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        env = {**os.environ, "CHIMERA_API__PORT": "0"} if args.self_test else None
        settings = load_settings(
            config_path=args.config, data_dir=args.data_dir, workspace=args.workspace, env=env
        )
    except ConfigError as exc:
        print(f"chimera-console: {exc}", file=sys.stderr)
        return 2
    missing = missing_xcb_libraries()
    if missing:  # Qt would abort the process with a core dump: say what to do instead
        print(f"chimera-console: {xcb_advice(missing)}", file=sys.stderr)
        return 3
    preferences = None if args.self_test else Preferences.for_user()
    theme = preferences.theme if preferences is not None else LIGHT
    app = create_application(sys.argv[0] if sys.argv else "chimera-console", theme)
    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    probe = print_startup_probe if args.startup_probe else None
    try:
        with loop:
            if args.self_test:
                from app.selftest import run_self_test

                return int(loop.run_until_complete(run_self_test(settings)))
            return int(
                loop.run_until_complete(run_console(settings, probe=probe, preferences=preferences))
            )
    finally:
        asyncio.set_event_loop(None)


if __name__ == "__main__":
    sys.exit(main())

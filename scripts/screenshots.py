"""Render the console's main screens offscreen and save them as PNGs.

Drives the real widgets against a real engine on a temporary data directory:
creates the first administrator, performs a few audited operations (including
refused ones), then captures

* ``first_admin.png``: the first-run dialog,
* ``login.png``: the sign-in dialog after a wrong password,
* ``main_audit.png``: the main window (1280x800) with the Audit panel populated.

Usage: ``python scripts/screenshots.py [--out docs/screenshots]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QWidget

from app.bridge import EngineBridge
from app.controller import ConsoleController
from app.dialogs.first_admin import FirstAdminDialog
from app.dialogs.login import LoginDialog
from app.main import create_application
from app.signals import wait_signal
from app.views.audit import AuditPanel
from chimera_engine.config import load_settings
from chimera_engine.errors import ChimeraError
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
TIMEOUT_S = 10.0


async def wait(signal: SignalInstance) -> tuple[object, ...]:
    async with asyncio.timeout(TIMEOUT_S):
        return await wait_signal(signal)


def save(widget: QWidget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


async def refused(operation: Awaitable[object]) -> None:
    """Await an operation the engine must refuse (and audit as denied or error)."""
    try:
        await operation
    except ChimeraError:
        return
    raise RuntimeError("the engine accepted an operation it should have refused")


async def record_activity(node: HeartNode, admin: Principal) -> None:
    """Real, audited engine operations, a few of them refused."""
    facade = node.facade
    await facade.create_user(admin, "olivia", PASSWORD, "operator")
    await facade.create_user(admin, "omar", PASSWORD, "observer")
    await facade.create_user(admin, "dana", PASSWORD, "operator")
    await facade.set_user_role(admin, "dana", "observer")
    await facade.reset_password(admin, "olivia", "tangerine submarine 42")
    await refused(facade.login("mallory", "letmein123"))
    await refused(facade.login("omar", "wrong password"))
    await refused(facade.create_user(admin, "temp", "short", "operator"))
    observer = await facade.login("omar", PASSWORD)
    await refused(facade.audit_verify(observer.principal))
    await facade.logout(observer.principal, observer.tokens.refresh_token)
    operator = await facade.login("olivia", "tangerine submarine 42")
    await facade.audit_verify(operator.principal)
    await facade.set_user_disabled(admin, "dana", True)


async def capture(out: Path, data_dir: Path) -> None:
    node = HeartNode(load_settings(data_dir=data_dir, env={}, use_default_file=False))
    await node.start()
    bridge = EngineBridge(node)
    widgets: list[QWidget] = []
    try:
        first = FirstAdminDialog(bridge, username="admin")
        widgets.append(first)
        first.password_edit.setText(PASSWORD)
        first.confirm_edit.setText(PASSWORD)
        first.show()
        first.password_edit.deselect()
        save(first, out / "first_admin.png")
        first.create_button.click()
        await wait(first.adminCreated)
        assert bridge.session is not None
        await record_activity(node, bridge.session.principal)
        await bridge.logout()

        login = LoginDialog(bridge, username="admin")
        widgets.append(login)
        login.show()
        login.password_edit.setText("not my password")
        login.sign_in_button.click()
        await wait(bridge.busyChanged)
        save(login, out / "login.png")

        login.password_edit.setText(PASSWORD)
        login.sign_in_button.click()
        await wait(login.loggedIn)

        window = ConsoleController(bridge).build_main_window()
        widgets.append(window)
        panel = window.panel("Audit")
        assert isinstance(panel, AuditPanel)
        window.show()
        await wait(panel.loaded)
        panel.verify_button.click()
        await wait(panel.verified)
        await wait(bridge.loopLag)  # a real sample from the engine's loop-lag monitor
        await asyncio.sleep(0.1)  # let the live batch of the verification land
        save(window, out / "main_audit.png")
        await bridge.logout()
    finally:
        for widget in widgets:
            widget.close()
            widget.deleteLater()
        await bridge.aclose()
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = create_application("chimera-console")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="chimera-shots-") as tmp, loop:
            loop.run_until_complete(capture(out, Path(tmp) / "data"))
    finally:
        asyncio.set_event_loop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

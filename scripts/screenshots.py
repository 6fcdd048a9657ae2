"""Render the console's main screens offscreen and save them as PNGs.

Drives the real widgets against a real engine on a temporary data directory:
creates the first administrator, performs a few audited operations (including
refused ones), then captures

* ``first_admin.png``: the first-run dialog,
* ``login.png``: the sign-in dialog after a wrong password,
* ``main_audit.png``: the main window (1280x800) with the Audit panel populated,
* ``modules.png``: the Module reload panel after reloads (one refused), a rollback
  and a deprecation, with calls counted live and the diff of the rollback shown,
* ``patches.png``: the Patch review panel after a patch request from the panel
  (a scripted answer) was rejected with a reason and re-generated: the new patch
  selected, its sandbox results shown; ``patches_diff.png``: the same patch's
  side-by-side diff,
* ``admin.png``: the Admin panel's API keys tab right after creating a key, which
  is shown once above the table,
* ``shortcuts.png``: Help > Keyboard shortcuts over the main window,
* ``dashboard.png``: the Dashboard on a second engine with minutes of metric
  history: anomaly markers, a forecast band reaching a dashed threshold, the
  anomalies list (one acknowledged) and a failure prediction (see
  ``screenshots_dashboard.py``).

Usage: ``python scripts/screenshots.py [--out docs/screenshots] [--theme light|dark]``
(``scripts/screenshots_themes.py`` renders the dark theme and 200% scaling with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable
from functools import partial
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QWidget

from app.bridge import EngineBridge
from app.controller import ConsoleController
from app.panels.admin.view import AdminPanel
from app.panels.audit.view import AuditPanel
from app.panels.modules.view import ModulesPanel
from app.panels.patches.view import PatchesPanel
from app.panels.signin.first_admin import FirstAdminDialog
from app.panels.signin.login import LoginDialog
from app.widgets.confirm import action_button
from chimera_engine.errors import ChimeraError
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _startup  # a sibling of this script
import screenshots_dashboard  # a sibling of this script
import screenshots_patches  # a sibling of this script
from _startup import PASSWORD, save, settled_lag, wait

TIMEOUT_S = 10.0


until = partial(_startup.until, timeout=TIMEOUT_S, step=0.02)


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
    await facade.admin.create_user(admin, "olivia", PASSWORD, "operator")
    await facade.admin.create_user(admin, "omar", PASSWORD, "observer")
    await facade.admin.create_user(admin, "dana", PASSWORD, "operator")
    await facade.admin.set_user_role(admin, "dana", "observer")
    await facade.admin.reset_password(admin, "olivia", "tangerine submarine 42")
    await refused(facade.sessions.login("mallory", "letmein123"))
    await refused(facade.sessions.login("omar", "wrong password"))
    await refused(facade.admin.create_user(admin, "temp", "short", "operator"))
    observer = await facade.sessions.login("omar", PASSWORD)
    await refused(facade.audit.verify(observer.principal))
    await facade.sessions.logout(observer.principal, observer.tokens.refresh_token)
    operator = await facade.sessions.login("olivia", "tangerine submarine 42")
    await facade.audit.verify(operator.principal)
    await facade.admin.set_user_disabled(admin, "dana", True)


BOM_FIX = (
    "    reader = csv.reader(",
    '    text = text.lstrip("\\ufeff")  # Excel exports start with a byte-order mark\n'
    "    reader = csv.reader(",
)
RATIO_BUG = (
    "    width = len(header)\n",
    "    width = len(header)\n    mean = sum(map(len, rows[1:])) // len(rows[1:])\n",
)
CSV_SAMPLES = ("Name,Age\nada,36\nada,36\n", "id\n1\n2\n", "Only Header\n")


async def call_csv(node: HeartNode, who: Principal, times: int) -> None:
    """Real tool calls; header-only input makes the buggy version raise."""
    for i in range(times):
        with contextlib.suppress(ChimeraError):
            await node.runtime.call("clean_csv", {"text": CSV_SAMPLES[i % 3]}, who)


async def module_history(node: HeartNode, who: Principal, panel: ModulesPanel) -> None:
    """csv_cleaner v2 (fix), v3 (refused: syntax), v4 (a bug), rolled back from the
    panel (v5), v1 deprecated from the panel; calls on each version as it serves."""
    facade = node.facade
    v1 = await facade.modules.version_source(who, "csv_cleaner", 1)
    await call_csv(node, who, 23)
    v2 = v1.replace(*BOM_FIX)
    await facade.modules.reload_module(who, "csv_cleaner", source=v2)
    await call_csv(node, who, 41)
    await facade.modules.reload_module(
        who, "csv_cleaner", source=v2.replace("lineterminator=", "lineterminator")
    )
    await facade.modules.reload_module(who, "csv_cleaner", source=v2.replace(*RATIO_BUG))
    await call_csv(node, who, 30)
    for _ in range(12):
        await node.runtime.call("parse_log", {"text": "2026-01-01 10:00:00 ERROR disk full"}, who)
    await until(lambda: panel.model.active_version("csv_cleaner") == 4)
    panel.select(panel.model.module_index("csv_cleaner"))
    panel.action_bar.rollback_button.click()
    assert panel.confirm_box is not None  # the panel asks first, as it does an operator
    action_button(panel.confirm_box).click()
    await wait(panel.actionFinished)
    await call_csv(node, who, 17)
    await until(lambda: panel.model.active_version("csv_cleaner") == 5)
    # v1 was deprecated once it drained; reinstate it so the panel can deprecate it
    await facade.modules.set_version_state(who, "csv_cleaner", 1, "inactive")
    await until(lambda: panel.model.versions("csv_cleaner")[-1].state == "inactive")
    panel.select_version("csv_cleaner", 1)
    panel.action_bar.deprecate_button.click()
    await wait(panel.actionFinished)
    await until(lambda: panel.model.versions("csv_cleaner")[-1].state == "deprecated")


async def record_keys(node: HeartNode, who: Principal) -> None:
    """API keys in every state: used recently, scoped, expiring, revoked."""
    facade = node.facade
    push, _ = await facade.admin.create_api_key(
        who,
        name="grafana-push",
        role="api_client",
        scopes=["metrics.push", "metrics.read"],
        rate_limit=600,
    )
    await facade.admin.create_api_key(
        who, name="nightly-etl", role="operator", expires_at=time.time() + 30 * 86_400
    )
    _, old = await facade.admin.create_api_key(who, name="old-ci-runner", role="api_client")
    await facade.admin.revoke_api_key(who, old.id)
    node.security.api_keys.authenticate(push)  # last used: just now


async def create_key(admin: AdminPanel) -> None:
    """Create a key through the panel's dialog, as an operator would."""
    tab = admin.keys_tab
    admin.tabs.setCurrentWidget(tab)
    await until(lambda: tab.model.rowCount() >= 3)  # and the engine's own keys, if any
    before = tab.model.rowCount()
    dialog = tab.new_key()
    dialog.name_edit.setText("ci-deploy")
    dialog.set_scopes(["tool.call", "tool.read"])
    dialog.rate_spin.setValue(120)
    dialog.expiry_spin.setValue(90)
    dialog.submit_button.click()
    await wait(tab.actionFinished)
    await until(lambda: tab.model.rowCount() == before + 1 and tab.selected() is not None)


async def capture(out: Path, data_dir: Path) -> None:
    workspace, env = screenshots_patches.scripted_workspace(data_dir.parent)
    settings = _startup.engine_settings(data_dir, env=env, workspace=workspace)
    async with _startup.running_engine(settings) as node, _startup.console_bridge(node) as bridge:
        await shoot(node, bridge, out)


async def shoot(node: HeartNode, bridge: EngineBridge, out: Path) -> None:
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
        await record_keys(node, bridge.session.principal)
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
        modules = window.panel("Modules")
        assert isinstance(modules, ModulesPanel)
        window.show_panel("Modules")
        window.show()
        await until(lambda: modules.model.active_version("csv_cleaner") is not None)
        await module_history(node, bridge.principal, modules)
        modules.select_version("csv_cleaner", 4)
        modules.tree.selectionModel().select(
            modules.model.version_index("csv_cleaner", 5),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
        await until(lambda: modules.detail.diff_view.toPlainText().startswith("---"))
        await settled_lag(bridge)
        save(window, out / "modules.png")

        patches = window.panel("Patches")
        assert isinstance(patches, PatchesPanel)
        window.show_panel("Patches")
        await screenshots_patches.review(patches)

        panel = window.panel("Audit")
        assert isinstance(panel, AuditPanel)
        window.show_panel("Audit")
        panel.reload()
        await wait(panel.loaded)
        panel.verify_button.click()
        await wait(panel.verified)
        await wait(bridge.loopLag)  # a real sample from the engine's loop-lag monitor
        await asyncio.sleep(0.1)  # let the live batch of the verification land
        save(window, out / "main_audit.png")

        admin = window.panel("Admin")
        assert isinstance(admin, AdminPanel)
        window.show_panel("Admin")
        await create_key(admin)
        await until(lambda: not bridge.busy)
        await settled_lag(bridge)
        save(window, out / "admin.png")

        sheet = window.desktop.show_shortcuts()
        widgets.append(sheet)
        await asyncio.sleep(0.05)
        save(sheet, out / "shortcuts.png")
        sheet.close()

        # Last, so that the loop lag of the sandbox runs has left the 30 s window.
        window.show_panel("Patches")
        screenshots_patches.show_diff(patches)
        await until(lambda: not bridge.busy)
        await settled_lag(bridge, samples=40)
        save(window, out / "patches_diff.png")
        screenshots_patches.show_sandbox(patches)
        await asyncio.sleep(0.1)
        save(window, out / "patches.png")
        await bridge.logout()
    finally:
        for widget in widgets:
            widget.close()
            widget.deleteLater()


def main(argv: list[str] | None = None) -> int:
    args, out = _startup.shot_arguments(__doc__, argv)

    async def both(tmp: Path) -> None:
        await capture(out, tmp / "data")
        await screenshots_dashboard.capture_dashboard(out, tmp / "dashboard-data", save)

    _startup.run_console(both, theme=args.theme)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs the Module reload panel's actions through the bridge and words their outcome.

Every request goes to the authorised facade as the signed-in user; refusals
(permission, validation) come back as :attr:`ModuleCommands.finished` with
``ok=False`` and the engine's reason, never only as a dialog.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.bridge import EngineBridge, describe_error
from app.panels.modules.status import VERBS, result_message
from chimera_engine.modules.models import ReloadResult
from chimera_engine.modules.service import VersionInfo


class ModuleCommands(QObject):
    """:attr:`started` (status text) when a request leaves; :attr:`finished` (action, ok,
    status text, severity, and the ``(module, version)`` to select or ``None``) when done."""

    started = Signal(str, str)  # action, text
    finished = Signal(str, bool, str, str, object)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge

    def reload(self, module: str, force: bool = False) -> None:
        extra = " (forced)" if force else ""
        self._go(
            "reload",
            f"Reloading {module} from its file{extra}…",
            self._bridge.modules.reload_module(module, force=force),
        )

    def activate(self, module: str, version: int) -> None:
        self._go(
            "activate",
            f"Activating {module} v{version}…",
            self._bridge.modules.activate_version(module, version),
        )

    def rollback(self, module: str) -> None:
        self._go(
            "rollback", f"Rolling back {module}…", self._bridge.modules.rollback_module(module)
        )

    def set_state(self, module: str, version: int, state: str) -> None:
        self.started.emit(state, f"Marking {module} v{version} {state}…")
        self._bridge.run(
            self._bridge.modules.set_version_state(module, version, state),
            on_success=lambda info: self._state_set(state, info),
            on_error=lambda exc: self._failed(state, exc),
            title="Could not change the version's state",
        )

    def decide_deletion(self, module: str, action: str) -> None:
        verb = "Removing" if action == "remove" else "Restoring the file of"
        self.started.emit(action, f"{verb} {module}…")
        self._bridge.run(
            self._bridge.modules.decide_deletion(module, action),
            on_success=lambda state: self._deletion_done(module, action, state),
            on_error=lambda exc: self._failed(action, exc),
            title="Could not settle the deleted module",
        )

    def _deletion_done(self, module: str, action: str, state: str) -> None:
        text = (
            f"{module} removed: its tools are no longer offered"
            if action == "remove"
            else f"{module}.py restored from the serving version"
        )
        self.finished.emit(action, True, text, "ok", None)

    def _go(self, action: str, text: str, operation: Coroutine[Any, Any, ReloadResult]) -> None:
        self.started.emit(action, text)
        self._bridge.run(
            operation,
            on_success=lambda result: self._result(action, result),
            on_error=lambda exc: self._failed(action, exc),
            title=f"Could not {VERBS[action]}",
        )

    def _result(self, action: str, result: ReloadResult) -> None:
        text, severity = result_message(action, result)
        select = (result.module, result.version) if result.ok and result.version else None
        self.finished.emit(action, result.ok, text, severity, select)

    def _state_set(self, state: str, info: VersionInfo) -> None:
        text = f"{info.module} v{info.version} is now {state}"
        self.finished.emit(state, True, text, "ok", (info.module, info.version))

    def _failed(self, action: str, exc: Exception) -> None:
        text = f"Could not {VERBS.get(action, action)}: {describe_error(exc)}"
        self.finished.emit(action, False, text, "critical", None)

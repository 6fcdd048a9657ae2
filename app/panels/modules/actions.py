"""The action bar of the Module reload panel: what may be done to the selection.

Buttons are enabled by two things: the signed-in user's permissions (a missing
one disables the button, and its tooltip names the permission) and the
selected module or version (e.g. only an inactive version can be activated).
The engine checks permissions again on every request; this only avoids offering
what would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QWidget

from app.shared.permissions import missing_permission
from chimera_engine.modules.service import VersionInfo
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal


@dataclass(frozen=True)
class Target:
    """What the action bar acts on: a module and, for a version row, that version."""

    module: str
    version: VersionInfo | None
    versions: tuple[VersionInfo, ...]  # all of the module's, newest first
    file_deleted: bool = False  # its file is gone while its version serves

    @property
    def active(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.active), None)

    def rollback_target(self) -> VersionInfo | None:
        """The version a rollback would restore (the engine's rule: newest earlier version
        that served well and whose source differs from the active one)."""
        active = self.active
        if active is None:
            return None
        for info in self.versions:
            if (
                info.version < active.version
                and info.content_hash != active.content_hash
                and info.state in ("inactive", "deprecated")
                and info.verdict == "good"
            ):
                return info
        return None


class ModuleActionBar(QWidget):
    reloadRequested = Signal(str, bool)  # module, force
    activateRequested = Signal(str, int)  # module, version
    rollbackRequested = Signal(str)  # module
    stateRequested = Signal(str, int, str)  # module, version, state
    deletionDecided = Signal(str, str)  # module, "remove" or "restore"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("moduleActionBar")
        self._target: Target | None = None
        self.force_check = QCheckBox("Force (accept signature change)", self)
        self.force_check.setObjectName("moduleForceCheck")
        self.force_check.setToolTip(
            "Reload even if a tool's signature changed in a way that could break its callers"
        )
        self.reload_button = self._button("Reload now", "moduleReloadButton", self._reload)
        self.activate_button = self._button("Activate", "moduleActivateButton", self._activate)
        self.rollback_button = self._button("Roll back", "moduleRollbackButton", self._rollback)
        self.deprecate_button = self._button(
            "Deprecate", "moduleDeprecateButton", lambda: self._state("deprecated")
        )
        self.retire_button = self._button(
            "Retire", "moduleRetireButton", lambda: self._state("retired")
        )
        self.remove_button = self._button(
            "Remove module", "moduleRemoveButton", lambda: self._decide("remove")
        )
        self.restore_button = self._button(
            "Restore file", "moduleRestoreButton", lambda: self._decide("restore")
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.reload_button)
        layout.addWidget(self.force_check)
        layout.addSpacing(18)
        for button in self.buttons()[1:]:
            layout.addWidget(button)
        self.update_for(None, None)

    def _button(self, text: str, name: str, slot: object) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def buttons(self) -> list[QPushButton]:
        return [
            self.reload_button,
            self.activate_button,
            self.rollback_button,
            self.deprecate_button,
            self.retire_button,
            self.remove_button,
            self.restore_button,
        ]

    @property
    def target(self) -> Target | None:
        return self._target

    # -- enabling --------------------------------------------------------------------------
    def update_for(self, principal: Principal | None, target: Target | None) -> None:
        self._target = target
        reload_denied = missing_permission(principal, Permission.TOOL_RELOAD)
        activate_denied = missing_permission(principal, Permission.TOOL_ACTIVATE)
        self.force_check.setEnabled(not reload_denied)
        self._set(self.reload_button, reload_denied, *self._reload_state(target))
        self._set(self.activate_button, activate_denied, *self._activate_state(target))
        self._set(self.rollback_button, activate_denied, *self._rollback_state(target))
        self._set(self.deprecate_button, activate_denied, *self._state_change(target, "deprecated"))
        self._set(self.retire_button, activate_denied, *self._state_change(target, "retired"))
        deleted, why = self._deletion_state(target)
        self.remove_button.setVisible(deleted)
        self.restore_button.setVisible(deleted)
        self._set(self.remove_button, activate_denied, deleted, why or "Stop offering its tools")
        self._set(
            self.restore_button, activate_denied, deleted, why or "Write the serving source back"
        )

    @staticmethod
    def _set(button: QPushButton, denied: str, possible: bool, why: str) -> None:
        button.setEnabled(not denied and possible)
        button.setToolTip(denied or why)

    @staticmethod
    def _reload_state(target: Target | None) -> tuple[bool, str]:
        if target is None:
            return False, "Select a module to reload it from its file"
        return True, f"Load {target.module}.py from disk into a new version and switch to it"

    @staticmethod
    def _activate_state(target: Target | None) -> tuple[bool, str]:
        info = target.version if target else None
        if info is None:
            return False, "Select a version to make it the active one"
        if info.active:
            return False, f"v{info.version} is already active"
        if info.state in ("failed", "retired"):
            return False, f"v{info.version} is {info.state} and cannot be activated"
        return True, f"Make {info.module} v{info.version} the active version"

    @staticmethod
    def _rollback_state(target: Target | None) -> tuple[bool, str]:
        if target is None:
            return False, "Select a module to roll it back"
        previous = target.rollback_target()
        if previous is None:
            return False, f"{target.module} has no earlier good version to roll back to"
        return True, f"Restore the source of v{previous.version} as a new version"

    @staticmethod
    def _state_change(target: Target | None, state: str) -> tuple[bool, str]:
        info = target.version if target else None
        verb = "Deprecate" if state == "deprecated" else "Retire"
        if info is None:
            return False, f"Select a version to {verb.lower()} it"
        allowed = ("inactive",) if state == "deprecated" else ("inactive", "deprecated")
        if info.active or info.state not in allowed:
            states = " or ".join(allowed)
            return False, f"v{info.version} is {info.state}; only {states} versions can be {state}"
        if state == "deprecated":
            return True, f"{verb} v{info.version}: still callable by explicit version number"
        return True, f"{verb} v{info.version}: never callable again"

    @staticmethod
    def _deletion_state(target: Target | None) -> tuple[bool, str]:
        if target is None or not target.file_deleted:
            return False, ""
        active = target.active
        return True, (
            f"{target.module}.py was deleted; v{active.version if active else '?'} still "
            "serves: remove the module (its tools stop being offered) or restore the file "
            "from the serving version"
        )

    # -- requests --------------------------------------------------------------------------
    def _reload(self) -> None:
        if self._target is not None:
            self.reloadRequested.emit(self._target.module, self.force_check.isChecked())

    def _activate(self) -> None:
        info = self._target.version if self._target else None
        if info is not None:
            self.activateRequested.emit(info.module, info.version)

    def _rollback(self) -> None:
        if self._target is not None:
            self.rollbackRequested.emit(self._target.module)

    def _state(self, state: str) -> None:
        info = self._target.version if self._target else None
        if info is not None:
            self.stateRequested.emit(info.module, info.version, state)

    def _decide(self, action: str) -> None:
        if self._target is not None:
            self.deletionDecided.emit(self._target.module, action)

"""Opens the Patch review panel's dialogs and reports what came of them.

Reject and roll back ask for a reason, edit opens the patch text, re-generate
and request ask for a module and a note. Every dialog is non-modal (the panel stays
usable behind it) and one at a time: asking again while one is open brings it
to the front.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QWidget

from app.bridge import EngineBridge, describe_error
from app.panels.patches.actions import EDIT, REGENERATE, REJECT, REQUEST, ROLLBACK
from app.panels.patches.patch_dialog import EditPatchDialog, ReasonDialog, RequestPatchDialog
from app.shared.badges import state_label
from chimera_engine.modules.service import VersionInfo
from chimera_engine.patches.models import Patch, PatchState


def edited_message(source: int, patch: Patch) -> tuple[str, str]:
    if patch.state is PatchState.READY:
        return f"Your version of patch {source} is patch {patch.id}: it passed the sandbox", "ok"
    why = patch.reason or state_label(patch.state.value)
    return f"Your version of patch {source} is patch {patch.id}: refused, {why}", "warn"


class PatchDialogs(QObject):
    """:attr:`finished` (action, ok, text, severity, patch id to select) after a dialog's
    engine operation; :attr:`requested` (module, note) when a generation is asked for."""

    finished = Signal(str, bool, str, str, object)
    requested = Signal(str, str)

    def __init__(self, bridge: EngineBridge, parent: QWidget) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._parent = parent
        self.current: QDialog | None = None

    def open(self, action: str, patch: Patch | None) -> None:
        if self.current is not None:
            with contextlib.suppress(RuntimeError):  # deleted on close: forget it
                if self.current.isVisible():
                    self.current.raise_()
                    self.current.activateWindow()
                    return
            self.current = None
        if action == REQUEST:
            self._bridge.run(
                self._bridge.modules.list_modules(),
                on_success=self._modules_listed,
                on_error=lambda exc: self.finished.emit(
                    action,
                    False,
                    f"Could not list the modules: {describe_error(exc)}",
                    "critical",
                    None,
                ),
                title="Could not list the modules",
            )
        elif patch is not None:
            dialog = self._for_patch(action, patch)
            if dialog is not None:
                self._show(dialog)

    def _for_patch(self, action: str, patch: Patch) -> QDialog | None:
        bridge, pid = self._bridge, patch.id
        if action == REJECT:
            dialog = ReasonDialog(
                bridge,
                lambda reason: bridge.patches.reject_patch(pid, reason),
                name="rejectPatchDialog",
                title=f"Reject patch {pid}",
                text=f"The patch for {patch.module} is not applied. Your reason is recorded, "
                "audited, and shown to whoever re-generates it.",
                submit="Reject patch",
                busy="Rejecting…",
                placeholder="e.g. it hides the error instead of handling it",
                parent=self._parent,
            )
            dialog.succeeded.connect(lambda p: self._decided("reject", p, "rejected"))
            return dialog
        if action == ROLLBACK:
            dialog = ReasonDialog(
                bridge,
                lambda reason: bridge.patches.rollback_patch(pid, reason),
                name="rollbackPatchDialog",
                title=f"Roll back patch {pid}",
                text=f"{patch.module} returns to the source of v{patch.base_version} as a new "
                "version, at once and without a restart.",
                submit="Roll back",
                busy="Rolling back…",
                placeholder="e.g. latency doubled since it was applied",
                parent=self._parent,
            )
            dialog.succeeded.connect(lambda p: self._decided("rollback", p, "rolled back"))
            return dialog
        if action == EDIT:
            edit = EditPatchDialog(bridge, patch, self._parent)
            edit.succeeded.connect(lambda p: self._edited(pid, p))
            return edit
        if action == REGENERATE:
            request = RequestPatchDialog(
                [],
                module=patch.module,
                title=f"Re-generate a patch for {patch.module}",
                parent=self._parent,
            )
            if patch.reason:
                request.note_edit.setPlainText(
                    f"Patch {pid} was {state_label(patch.state)}: {patch.reason}"
                )
            request.requested.connect(self.requested.emit)
            return request
        return None

    def _modules_listed(self, modules: dict[str, list[VersionInfo]]) -> None:
        active = [name for name, versions in modules.items() if any(v.active for v in versions)]
        dialog = RequestPatchDialog(active, parent=self._parent)
        dialog.requested.connect(self.requested.emit)
        self._show(dialog)

    def _show(self, dialog: QDialog) -> None:
        """Show ``dialog`` without blocking the panel: the operator can keep reading the
        diff while writing a reason (never ``exec()``: the event loop keeps running)."""
        self.current = dialog
        dialog.finished.connect(lambda _result: self._closed(dialog))
        dialog.setModal(False)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def _closed(self, dialog: QDialog) -> None:
        if self.current is dialog:
            self.current = None

    def _decided(self, action: str, patch: object, done: str) -> None:
        if isinstance(patch, Patch):
            text = f"Patch {patch.id} {done}: {patch.reason}"
            self.finished.emit(action, True, text, "ok", patch.id)

    def _edited(self, source: int, patch: object) -> None:
        if isinstance(patch, Patch):
            text, severity = edited_message(source, patch)
            self.finished.emit("edit", patch.state is PatchState.READY, text, severity, patch.id)

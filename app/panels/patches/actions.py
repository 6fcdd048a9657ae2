"""What may be done to the selected patch, and the buttons that do it.

A button is enabled by two things: the signed-in user's permission (a missing
one disables it, and the tooltip names the permission) and the patch's state,
following the engine's state machine (only a ready patch can be approved, only
an applied or kept one rolled back). The engine checks both again on every
request; this only avoids offering what would be refused.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from app.shared.badges import state_label
from app.shared.permissions import missing_permission
from app.widgets.action_bar import Availability, named_action_button
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

APPROVE, REJECT, EDIT, REGENERATE, ROLLBACK, REQUEST = (
    "approve",
    "reject",
    "edit",
    "regenerate",
    "rollback",
    "request",
)

PERMISSIONS: dict[str, Permission] = {
    APPROVE: Permission.PATCH_APPROVE,
    REJECT: Permission.PATCH_APPROVE,
    EDIT: Permission.PATCH_GENERATE,
    REGENERATE: Permission.PATCH_GENERATE,
    ROLLBACK: Permission.PATCH_ROLLBACK,
    REQUEST: Permission.PATCH_GENERATE,
}

#: The states in which the operator may take each action on a patch. The engine also
#: lets a patch be rejected while it is proposed, tested or being applied; those are
#: the engine's own steps, over within moments, so the panel waits for their outcome.
STATES: dict[str, frozenset[PatchState]] = {
    APPROVE: frozenset({PatchState.READY}),
    REJECT: frozenset({PatchState.READY}),
    EDIT: frozenset({PatchState.READY, PatchState.REJECTED}),
    ROLLBACK: frozenset({PatchState.APPLIED, PatchState.KEPT}),
}


def availability(
    action: str, principal: Principal | None, patch: Patch | None, *, generating: str = ""
) -> Availability:
    """Whether ``action`` is offered for ``patch`` and the tooltip saying why (not).

    ``generating`` names the module a patch is being generated for, if any.
    """
    missing = missing_permission(principal, PERMISSIONS[action])
    if missing:
        return Availability(False, missing)
    if action in (REQUEST, REGENERATE) and generating:
        return Availability(False, f"A patch for {generating} is being generated; wait for it")
    if action == REQUEST:
        return Availability(True, "Ask the model for a tested fix of a module you choose")
    if patch is None:
        return Availability(False, "Select a patch first")
    if action == REGENERATE:
        return Availability(True, f"Ask for a new patch of {patch.module} (optionally with a note)")
    allowed = STATES[action]
    state = patch.state
    if state not in allowed:
        wanted = " or ".join(state_label(s.value) for s in sorted(allowed))
        busy = state in (PatchState.PROPOSED, PatchState.TESTING, PatchState.APPROVED)
        why = "; wait for the engine to finish with it" if busy else ""
        return Availability(
            False, f"Patch {patch.id} is {state_label(state.value)}: only {wanted} patches{why}"
        )
    return Availability(True, _TIPS[action].format(id=patch.id, module=patch.module))


_TIPS = {
    APPROVE: "Approve patch {id} and apply it to {module} at once (shortcut A)",
    REJECT: "Reject patch {id}, saying why (shortcut R)",
    EDIT: "Edit patch {id}: your version is tested in the sandbox as a new patch",
    ROLLBACK: "Return {module} to the version patch {id} replaced, saying why",
}


class PatchActionBar(QWidget):
    """Emits one signal per button; the panel decides what to do with it."""

    triggered = Signal(str)  # the action

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchActionBar")
        self.request_button = self._button("Request patch…", REQUEST, "patchRequestButton")
        self.approve_button = self._button("Approve", APPROVE, "patchApproveButton")
        self.reject_button = self._button("Reject…", REJECT, "patchRejectButton")
        self.edit_button = self._button("Edit…", EDIT, "patchEditButton")
        self.regenerate_button = self._button("Re-generate…", REGENERATE, "patchRegenerateButton")
        self.rollback_button = self._button("Roll back…", ROLLBACK, "patchRollbackButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.request_button)
        layout.addSpacing(12)
        for button in self.buttons()[1:]:
            layout.addWidget(button)
        self.update_for(None, None)

    def _button(self, text: str, action: str, name: str) -> QPushButton:
        return named_action_button(text, action, name, self, self.triggered.emit)

    def buttons(self) -> list[QPushButton]:
        return [
            self.request_button,
            self.approve_button,
            self.reject_button,
            self.edit_button,
            self.regenerate_button,
            self.rollback_button,
        ]

    def button(self, action: str) -> QPushButton:
        return next(b for b in self.buttons() if b.property("action") == action)

    def update_for(
        self,
        principal: Principal | None,
        patch: Patch | None,
        *,
        generating: str = "",
        busy: bool = False,
    ) -> None:
        """Enable each button for ``patch``; ``busy``: an action on it is under way."""
        for button in self.buttons():
            action = str(button.property("action"))
            state = availability(action, principal, patch, generating=generating)
            enabled = state.enabled and not (busy and action != REQUEST)
            button.setEnabled(enabled)
            button.setToolTip(state.tip)

"""Runs the Patch review panel's own engine requests and words their outcome.

Approving applies the patch at once; requesting a patch can take minutes
(provider round trips, sandbox runs) and runs as a task the bridge owns while
the panel stays usable. Refusals come back through :attr:`PatchCommands.finished`
with ``ok=False`` and the engine's reason, never only as a dialog.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.bridge import EngineBridge, describe_error
from app.panels.patches.rows import format_cost
from app.shared.badges import state_label
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.review import ProposalOutcome


def approval_message(patch: Patch) -> tuple[str, str]:
    """The status line after an approval, and its severity."""
    if patch.state is PatchState.APPLIED:
        return (
            f"Patch {patch.id} applied: {patch.module} v{patch.applied_version} is active",
            "ok",
        )
    return (
        f"Patch {patch.id} was not applied: {patch.reason or state_label(patch.state)}",
        "critical",
    )


def narrowed_message(source: int, patch: Patch) -> tuple[str, str]:
    """The status line after keeping some hunks of ``source``, and its severity."""
    if patch.state is PatchState.READY:
        return (
            f"Patch {patch.id} keeps some hunks of patch {source} (now superseded): it passed "
            "the sandbox and can be approved",
            "ok",
        )
    why = patch.reason or state_label(patch.state.value)
    return (
        f"Patch {patch.id} keeps some hunks of patch {source}: refused, {why}; patch {source} "
        "stays as it was",
        "warn",
    )


def proposal_message(module: str, outcome: ProposalOutcome) -> tuple[str, str]:
    """The status line after a patch request, and its severity."""
    report = outcome.report
    tries = f"{report.attempts} attempt{'s' if report.attempts != 1 else ''}"
    cost = "scripted, no cost" if report.replay else format_cost(report.cost_usd)
    patch = outcome.patch
    if patch is None:
        why = report.reasons[-1] if report.reasons else "the provider gave no usable answer"
        return f"No patch for {module} after {tries}: {why}", "critical"
    if patch.state is PatchState.READY:
        return f"Patch {patch.id} for {module} is ready for review ({tries}, {cost})", "ok"
    if patch.state is PatchState.APPLIED:
        return f"Patch {patch.id} for {module} was approved by policy and applied", "ok"
    why = patch.reason or state_label(patch.state)
    return f"Patch {patch.id} for {module} failed in the sandbox ({tries}): {why}", "warn"


class PatchCommands(QObject):
    """:attr:`started` (action, text) when a request leaves; :attr:`finished` (action, ok,
    text, severity, the id of the patch to select or ``None``) when it is done;
    :attr:`generatingChanged` (module, or "" once no generation runs)."""

    started = Signal(str, str)
    finished = Signal(str, bool, str, str, object)
    generatingChanged = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.generating = ""

    def approve(self, patch: Patch) -> None:
        self.started.emit("approve", f"Approving patch {patch.id} and applying it…")
        self._bridge.run(
            self._bridge.patches.approve_patch(patch.id),
            on_success=self._approved,
            on_error=lambda exc: self._failed("approve", f"approve patch {patch.id}", exc),
            title="Could not approve the patch",
        )

    def _approved(self, patch: Patch) -> None:
        text, severity = approval_message(patch)
        self.finished.emit("approve", patch.state is PatchState.APPLIED, text, severity, patch.id)

    def accept_hunks(self, patch_id: int, keep: list[int]) -> None:
        """Keep hunks ``keep`` (from 0) of a patch: a narrower patch, tested again."""
        words = ", ".join(str(i + 1) for i in keep)
        self.started.emit("hunks", f"Testing hunks {words} of patch {patch_id} in the sandbox…")
        self._bridge.run(
            self._bridge.patches.accept_hunks(patch_id, keep),
            on_success=lambda patch: self._narrowed(patch_id, patch),
            on_error=lambda exc: self._failed("hunks", f"keep those hunks of {patch_id}", exc),
            title="Could not keep those hunks",
        )

    def _narrowed(self, source: int, patch: Patch) -> None:
        text, severity = narrowed_message(source, patch)
        self.finished.emit("hunks", patch.state is PatchState.READY, text, severity, patch.id)

    def request(self, module: str, note: str = "") -> None:
        """Ask for a patch of ``module``; one generation at a time."""
        if self.generating:
            return
        self._set_generating(module)
        self.started.emit("request", f"Generating a patch for {module}…")
        self._bridge.run(
            self._bridge.patches.request_patch(module, note),
            on_success=lambda outcome: self._proposed(module, outcome),
            on_error=lambda exc: self._request_failed(module, exc),
            title="Could not generate a patch",
        )

    def _proposed(self, module: str, outcome: ProposalOutcome) -> None:
        self._set_generating("")
        text, severity = proposal_message(module, outcome)
        select = outcome.patch.id if outcome.patch is not None else None
        self.finished.emit("request", outcome.patch is not None, text, severity, select)

    def _request_failed(self, module: str, exc: Exception) -> None:
        self._set_generating("")
        self._failed("request", f"generate a patch for {module}", exc)

    def _set_generating(self, module: str) -> None:
        self.generating = module
        self.generatingChanged.emit(module)

    def _failed(self, action: str, what: str, exc: Exception) -> None:
        self.finished.emit(
            action, False, f"Could not {what}: {describe_error(exc)}", "critical", None
        )

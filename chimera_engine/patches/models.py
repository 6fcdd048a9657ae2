"""Patches and what they are made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PatchState(StrEnum):
    PROPOSED = "proposed"
    TESTING = "testing"
    READY = "ready"
    REJECTED = "rejected"
    APPROVED = "approved"
    APPLIED = "applied"
    KEPT = "kept"
    ROLLED_BACK = "rolled_back"
    #: Replaced by a patch made of some of its hunks (``Patch.superseded_by``).
    SUPERSEDED = "superseded"


#: The state machine: which states each state may move to.
TRANSITIONS: dict[PatchState, frozenset[PatchState]] = {
    PatchState.PROPOSED: frozenset({PatchState.TESTING, PatchState.REJECTED}),
    PatchState.TESTING: frozenset({PatchState.READY, PatchState.REJECTED}),
    PatchState.READY: frozenset(
        {PatchState.APPROVED, PatchState.REJECTED, PatchState.TESTING, PatchState.SUPERSEDED}
    ),
    PatchState.REJECTED: frozenset({PatchState.TESTING, PatchState.SUPERSEDED}),
    PatchState.APPROVED: frozenset({PatchState.APPLIED, PatchState.REJECTED}),
    PatchState.APPLIED: frozenset({PatchState.KEPT, PatchState.ROLLED_BACK}),
    PatchState.KEPT: frozenset({PatchState.ROLLED_BACK}),
    PatchState.ROLLED_BACK: frozenset(),
    PatchState.SUPERSEDED: frozenset(),
}


@dataclass(frozen=True, kw_only=True)
class FailureSample:
    """One failing call: its inputs and what went wrong."""

    args: dict[str, Any]
    exception_type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, kw_only=True)
class PatchRequest:
    """The evidence for asking a model to fix ``module`` (at ``base_version``)."""

    module: str
    base_version: int
    source: str
    failures: list[FailureSample] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    existing_tests: dict[str, str] = field(default_factory=dict)
    note: str = ""
    #: Why the fix is asked for, in words ("requested by alice", "metacognition: ...").
    trigger: str = ""

    @property
    def signature(self) -> str:
        """A failure signature for similarity search: the errors, in words."""
        parts = [self.module]
        parts += [f"{f.exception_type} {f.message}" for f in self.failures[:5]]
        parts += self.anomalies[:5]
        if self.note:
            parts.append(self.note)
        return " ".join(parts)


@dataclass(frozen=True, kw_only=True)
class Patch:
    """A patch in the review queue (a snapshot; the store holds the truth)."""

    id: int
    module: str
    base_version: int
    state: PatchState
    created_at: float
    updated_at: float
    provider: str
    model: str
    replay: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    diff: str
    diff_hash: str
    files: dict[str, str]
    tests: dict[str, str]
    rationale: str
    risk: str
    result: dict[str, Any] | None
    reason: str
    applied_version: int | None
    decided_by: str
    signature: str
    attempts: int
    originals: dict[str, str] = field(default_factory=dict)
    #: The patch this one keeps some hunks of (None: made by a model or an edit).
    derived_from: int | None = None
    #: The patch made of some of this one's hunks, which replaced it.
    superseded_by: int | None = None

    @property
    def label(self) -> str:
        return f"patch {self.id} ({self.module} v{self.base_version})"

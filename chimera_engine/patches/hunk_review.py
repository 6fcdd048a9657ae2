"""The review queue's hunk-level accept: a patch narrowed to the hunks the operator keeps.

The narrower change is a new patch (``derived_from`` the original) that is tested
in the sandbox again (FAIL_TO_PASS and PASS_TO_PASS) before anyone can approve
it. Once it passes, the original becomes ``superseded`` with ``superseded_by``
pointing at it; if it fails, the original stays as it was (a ready patch is not
lost to a narrowing that did not work) and can be narrowed differently. The
kept hunks are applied to the module's active version (newer than the
original's base if the module was reloaded since). The decision is audited
(``patch.hunks``) with the hunks kept and both diff hashes. A subset that leaves
nothing, does not apply or does not parse is refused, audited, and changes
nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from chimera_engine.errors import ConflictError
from chimera_engine.patches.hunks import Hunk, keep_hunks, module_hunks
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.patchformat import PatchContent, PatchFormatError
from chimera_engine.patches.risk import assess
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.audit.log import AuditLog
    from chimera_engine.modules.manager import HotReloadManager
    from chimera_engine.patches.store import PatchRepository

log = logging.getLogger(__name__)

#: States whose hunks an operator may pick from (the state machine lets them be superseded).
NARROWABLE = (PatchState.READY, PatchState.REJECTED)


class HunkReview:
    """Mixed into :class:`~chimera_engine.patches.review.ReviewQueue`."""

    repo: PatchRepository
    reload: HotReloadManager
    _audit: AuditLog

    if TYPE_CHECKING:

        def module_path(self, module: str) -> str: ...

        def existing_tests(self) -> set[str]: ...

        async def _test(
            self, patch: Patch, content: PatchContent, principal: Principal
        ) -> Patch: ...

        def _publish(self, patch: Patch) -> None: ...

    async def hunks(self, patch_id: int) -> list[Hunk]:
        """The hunks of a patch's module change, numbered from 0."""
        patch = await self.repo.get(patch_id)
        return module_hunks(patch.originals, patch.files)

    async def accept_hunks(
        self, patch_id: int, principal: Principal, keep: Collection[int]
    ) -> Patch:
        """Keep hunks ``keep`` of a ready or rejected patch; returns the derived patch after
        its sandbox run (ready or rejected). A ready one supersedes the original."""
        base = await self.repo.get(patch_id)
        if base.state not in NARROWABLE:
            raise ConflictError(
                f"patch {patch_id} is {base.state.value}; only ready or rejected patches can be "
                "narrowed to some of their hunks"
            )
        active = self.reload.registry.active.get(base.module)
        if active is None:
            raise ConflictError(f"{base.module} has no active version to apply hunks to")
        kept = sorted(set(keep))
        try:
            content, hunks = keep_hunks(
                base.originals,
                base.files,
                base.tests,
                kept,
                existing_tests=await asyncio.to_thread(self.existing_tests),
                onto={self.module_path(base.module): active.source},
            )
        except PatchFormatError as exc:
            await self._audit.record(
                principal,
                "patch.hunks",
                target=f"patch:{patch_id}",
                outcome="error",
                kept=[i + 1 for i in kept],
                reason=str(exc),
            )
            raise
        words = f"hunks {', '.join(str(i + 1) for i in kept)} of {len(hunks)} kept"
        risk, _ = assess(content.diff)
        derived = await self.repo.create(
            f"derived from patch {patch_id}: {words} by {principal.actor}",
            base_version=active.version,
            provider=base.provider,
            model=base.model,
            replay=int(base.replay),
            rationale=f"{words.capitalize()} from patch {patch_id} by {principal.actor}.\n\n"
            f"{base.rationale}",
            derived_from=patch_id,
            **operator_patch_fields(base, content, principal, risk),
        )
        self._publish(derived)
        await self._audit.record(
            principal,
            "patch.hunks",
            target=f"patch:{derived.id}",
            source_patch=patch_id,
            kept=[i + 1 for i in kept],
            hunks=len(hunks),
            source_diff_hash=base.diff_hash,
            diff_hash=derived.diff_hash,
        )
        tested = await self._test(derived, content, principal)
        if tested.state is PatchState.READY:
            await self._supersede(patch_id, tested, principal, words)
        return tested

    async def _supersede(
        self, patch_id: int, derived: Patch, principal: Principal, words: str
    ) -> None:
        try:
            source = await self.repo.transition(
                patch_id,
                PatchState.SUPERSEDED,
                actor=principal.actor,
                detail=f"superseded by patch {derived.id}: {words}",
                superseded_by=derived.id,
            )
        except ConflictError as exc:  # decided meanwhile (approved, say): it stays so
            log.info("patch %s not superseded by %s: %s", patch_id, derived.id, exc)
            return
        self._publish(source)


def operator_patch_fields(
    base: Patch, content: PatchContent, principal: Principal, risk: str
) -> dict[str, Any]:
    """The stored fields of a patch an operator makes from ``base`` (narrowed or edited):
    proposed, no model cost, the new content, decided by the operator."""
    return {
        "module": base.module,
        "state": PatchState.PROPOSED.value,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "diff": content.diff,
        "diff_hash": content.diff_hash,
        "files": content.files,
        "originals": content.originals,
        "tests": content.tests,
        "risk": risk,
        "result": None,
        "decided_by": principal.actor,
        "signature": base.signature,
        "attempts": 1,
    }

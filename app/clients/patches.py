"""The Patches panel's client: list, inspect, request, approve, reject, edit, keep some
hunks, roll back."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Collection

from app.clients import CurrentPrincipal
from chimera_engine.facade import EngineFacade
from chimera_engine.patches.attempts import Attempt
from chimera_engine.patches.hunks import Hunk
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.review import ProposalOutcome
from chimera_engine.patches.store import PatchEvent

#: Imported by the engine when it builds its first provider: the LLM SDKs, over a second
#: of imports. Importing them in a worker thread first keeps the event loop free.
PROVIDER_MODULES = "chimera_engine.patches.configure"


class PatchesClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    async def list_patches(self, states: tuple[PatchState, ...] = ()) -> list[Patch]:
        """The review queue, newest first (every state when ``states`` is empty)."""
        return await self._facade.patches.list_patches(self._principal(), states=states)

    async def list_attempts(
        self, *, failed_only: bool = False, patch_id: int | None = None, limit: int = 200
    ) -> list[Attempt]:
        """Generation attempts, newest first (prompt, answer, verdict, tokens, trigger)."""
        return await self._facade.patches.list_attempts(
            self._principal(), failed_only=failed_only, patch_id=patch_id, limit=limit
        )

    async def count_failed_attempts(self, since: float = 0.0) -> int:
        """Attempts since ``since`` (epoch seconds) that gave no usable patch."""
        return await self._facade.patches.count_failed_attempts(self._principal(), since=since)

    async def get_patch(self, patch_id: int) -> tuple[Patch, list[PatchEvent]]:
        """A patch and its history (oldest event first)."""
        return await self._facade.patches.get_patch(self._principal(), patch_id)

    async def request_patch(self, module: str, note: str = "") -> ProposalOutcome:
        """Ask the configured provider for a tested fix of ``module``.

        Long-running (provider round trips and sandbox runs): seconds to minutes.
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, importlib.import_module, PROVIDER_MODULES)
        return await self._facade.patches.request_patch(self._principal(), module, note=note)

    async def approve_patch(self, patch_id: int) -> Patch:
        """Approve a ready patch; the engine applies it at once (a new tool version).

        The console approves the way a remote node or an API client does: it obtains a
        single-use, short-lived capability for "approve patch ``patch_id``" and spends
        it at once. The token lives only for the length of this call.
        """
        token, _capability = await self._facade.patches.approval_capability(
            self._principal(), patch_id
        )
        return await self._facade.patches.approve_with_capability(token, patch_id)

    async def patch_hunks(self, patch_id: int) -> list[Hunk]:
        """The hunks of a patch's module change, numbered from 0."""
        return await self._facade.patches.patch_hunks(self._principal(), patch_id)

    async def accept_hunks(self, patch_id: int, keep: Collection[int]) -> Patch:
        """Keep hunks ``keep`` only: returns the derived patch after its sandbox run (the
        original is superseded by it). Seconds: the sandbox runs the tests again."""
        return await self._facade.patches.accept_hunks(self._principal(), patch_id, keep)

    async def reject_patch(self, patch_id: int, reason: str) -> Patch:
        return await self._facade.patches.reject_patch(self._principal(), patch_id, reason)

    async def edit_patch(self, patch_id: int, answer_text: str) -> Patch:
        """The operator's version of a patch (answer format), recorded and re-tested as
        a new patch; returns that new patch after its sandbox run."""
        return await self._facade.patches.edit_patch(self._principal(), patch_id, answer_text)

    async def rollback_patch(self, patch_id: int, reason: str) -> Patch:
        return await self._facade.patches.rollback_patch(self._principal(), patch_id, reason)

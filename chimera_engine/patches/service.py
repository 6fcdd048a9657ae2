"""PatchesService: LLM patches: request, review, decide, roll back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from pathlib import Path

from chimera_engine.errors import ChimeraError, NotFoundError
from chimera_engine.modules.manager import HotReloadManager
from chimera_engine.modules.models import ModuleVersion
from chimera_engine.patches.attempts import Attempt
from chimera_engine.patches.generator import CodeGenerator
from chimera_engine.patches.hunks import Hunk
from chimera_engine.patches.models import FailureSample, Patch, PatchRequest, PatchState
from chimera_engine.patches.patchformat import materialise, parse_answer
from chimera_engine.patches.review import ProposalOutcome, ReviewQueue
from chimera_engine.patches.sandbox import PatchResult
from chimera_engine.patches.store import PatchEvent, Pattern
from chimera_engine.runtime import ToolRuntime
from chimera_engine.security.capabilities import Capability, CapabilityService
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from chimera_engine.workspace import validate_module_name

#: How long the console's approval capability lives (it is spent at once).
APPROVAL_CAPABILITY_TTL_S = 60.0


class PatchesService:
    """Needs the review queue, the reload manager, the tool runtime, the code generator
    and the capability service (getters: built when the engine starts) and the guard."""

    def __init__(
        self,
        guard: Guard,
        *,
        queue: Callable[[], ReviewQueue],
        reload: Callable[[], HotReloadManager],
        runtime: Callable[[], ToolRuntime],
        generator: Callable[[], CodeGenerator],
        capabilities: Callable[[], CapabilityService],
    ) -> None:
        self._guard = guard
        self._queue = queue
        self._reload = reload
        self._runtime = runtime
        self._generator = generator
        self._capabilities = capabilities

    def _active(self, module: str) -> ModuleVersion:
        active = self._reload().registry.active.get(validate_module_name(module))
        if active is None:
            raise NotFoundError(f"module {module!r} has no active version")
        return active

    async def build_request(self, module: str, note: str = "") -> PatchRequest:
        """The evidence for a fix of ``module``'s active version, gathered from the engine
        (the module's test files read off the event loop)."""
        active = self._active(module)
        failures = [
            FailureSample(
                args=f.args,
                exception_type=f.exception_type,
                message=f.message,
                traceback=f.traceback,
            )
            for f in self._runtime().recent_failures(module, active.version)[:5]
        ]
        existing = await asyncio.to_thread(
            _module_tests, self._reload().workspace.tests_dir, module
        )
        metrics = {
            "calls": float(active.calls),
            "errors": float(active.errors),
            "error_rate": active.error_rate,
        }
        return PatchRequest(
            module=module,
            base_version=active.version,
            source=active.source,
            failures=failures,
            metrics=metrics,
            existing_tests=existing,
            note=note,
        )

    async def request_patch(
        self, principal: Principal, module: str, *, note: str = ""
    ) -> ProposalOutcome:
        """Ask the configured provider for a tested fix of ``module`` (may take a while)."""
        await self._guard.allow(principal, Permission.PATCH_GENERATE, module)
        request = await self.build_request(module, note)
        return await self._queue().propose(self._generator(), request, principal)

    async def list_patches(
        self, principal: Principal, *, states: tuple[PatchState, ...] = (), limit: int = 200
    ) -> list[Patch]:
        await self._guard.allow(principal, Permission.PATCH_READ)
        return await self._queue().repo.find(states=states, limit=limit)

    async def list_attempts(
        self,
        principal: Principal,
        *,
        failed_only: bool = False,
        module: str | None = None,
        patch_id: int | None = None,
        limit: int = 200,
    ) -> list[Attempt]:
        """Generation attempts, newest first: prompts, answers, verdicts and costs."""
        await self._guard.allow(principal, Permission.PATCH_READ)
        repo = self._queue().attempts
        if repo is None:
            return []
        return await repo.find(
            failed_only=failed_only, module=module, patch_id=patch_id, limit=limit
        )

    async def count_failed_attempts(self, principal: Principal, *, since: float = 0.0) -> int:
        """How many generation attempts since ``since`` gave no usable patch."""
        await self._guard.allow(principal, Permission.PATCH_READ)
        repo = self._queue().attempts
        return 0 if repo is None else await repo.count_failed(since)

    async def get_patch(
        self, principal: Principal, patch_id: int
    ) -> tuple[Patch, list[PatchEvent]]:
        await self._guard.allow(principal, Permission.PATCH_READ)
        repo = self._queue().repo
        return await repo.get(patch_id), await repo.events(patch_id)

    async def approve_patch(self, principal: Principal, patch_id: int) -> Patch:
        await self._guard.allow(principal, Permission.PATCH_APPROVE, f"patch:{patch_id}")
        return await self._queue().approve(patch_id, principal)

    async def approval_capability(
        self, principal: Principal, patch_id: int, *, ttl: float = APPROVAL_CAPABILITY_TTL_S
    ) -> tuple[str, Capability]:
        """A single-use, short-lived capability for "approve patch ``patch_id``".

        Only a holder of ``patch.approve`` obtains one; the issue is audited
        (``capability.issue``). Spend it with :meth:`approve_with_capability`, or send it
        as ``X-Capability`` to ``POST /api/patches/{id}/approve``: the same path.
        """
        target = f"patch:{patch_id}"
        await self._guard.allow(principal, Permission.PATCH_APPROVE, target)
        await self._queue().repo.get(patch_id)  # NotFoundError for an unknown patch
        token, cap = await self._capabilities().issue(
            principal, Permission.PATCH_APPROVE, target, ttl=ttl, single_use=True
        )
        await self._guard.record(
            principal,
            "capability.issue",
            target=target,
            op=Permission.PATCH_APPROVE.value,
            jti=cap.jti,
            single_use=True,
            expires_at=cap.expires_at,
        )
        return token, cap

    async def approve_with_capability(self, token: str, patch_id: int) -> Patch:
        """Approve (and apply) a patch on the strength of a capability for it alone.

        The token is verified (signature, expiry, operation, object) and spent before
        anything changes: a replay, another patch or an expired token is refused and
        audited as denied. The approval is audited as the capability's subject.
        """
        target = f"patch:{patch_id}"
        try:
            principal = await self._capabilities().use(token, Permission.PATCH_APPROVE, target)
        except ChimeraError as exc:
            await self._guard.record(
                None,
                Permission.PATCH_APPROVE.value,
                target=target,
                outcome="denied",
                actor="capability",
                reason=str(exc),
            )
            raise
        return await self.approve_patch(principal, patch_id)

    async def reject_patch(self, principal: Principal, patch_id: int, reason: str) -> Patch:
        await self._guard.allow(principal, Permission.PATCH_APPROVE, f"patch:{patch_id}")
        return await self._queue().reject(patch_id, principal, reason)

    async def edit_patch(self, principal: Principal, patch_id: int, answer_text: str) -> Patch:
        await self._guard.allow(principal, Permission.PATCH_GENERATE, f"patch:{patch_id}")
        return await self._queue().edit(patch_id, principal, answer_text)

    async def patch_hunks(self, principal: Principal, patch_id: int) -> list[Hunk]:
        """The hunks of a patch's module change, numbered from 0 (its tests are not hunks:
        they always go with whatever is kept)."""
        await self._guard.allow(principal, Permission.PATCH_READ)
        return await self._queue().hunks(patch_id)

    async def accept_hunks(
        self, principal: Principal, patch_id: int, keep: Collection[int]
    ) -> Patch:
        """Keep only hunks ``keep`` (numbered from 0) of a ready or rejected patch.

        Needs ``patch.approve`` (it decides the original's fate). The result is a new
        patch, tested in the sandbox before it can be approved; once it passes, the
        original becomes superseded by it (if it fails, the original stays as it was).
        Refused (and audited) when the subset leaves nothing, keeps everything, does
        not apply or does not parse.
        """
        await self._guard.allow(principal, Permission.PATCH_APPROVE, f"patch:{patch_id}")
        return await self._queue().accept_hunks(patch_id, principal, keep)

    async def rollback_patch(self, principal: Principal, patch_id: int, reason: str) -> Patch:
        await self._guard.allow(principal, Permission.PATCH_ROLLBACK, f"patch:{patch_id}")
        return await self._queue().rollback(patch_id, principal, reason or "rolled back by hand")

    async def test_patch_text(
        self, principal: Principal, module: str, answer_text: str
    ) -> PatchResult:
        """Run the sandbox on a patch (answer format) against the active module; nothing applied."""
        await self._guard.allow(principal, Permission.PATCH_GENERATE, module)
        queue = self._queue()
        source = self._active(module).source
        path = queue.module_path(module)
        content = materialise(
            parse_answer(answer_text),
            {path: source},
            allowed={path},
            existing_tests=await asyncio.to_thread(queue.existing_tests),
        )
        result = await queue.tester.test(content, module)
        await self._guard.record(
            principal,
            "patch.test",
            target=module,
            outcome="ok" if result.ok else "error",
            diff_hash=content.diff_hash,
            reason=result.reason,
        )
        return result

    async def list_patterns(self, principal: Principal) -> list[Pattern]:
        await self._guard.allow(principal, Permission.PATCH_READ)
        return await self._queue().patterns.all()


def _module_tests(tests_dir: Path, module: str) -> dict[str, str]:
    """The first three of ``module``'s test files (``tests/<name>`` -> text)."""
    existing = {}
    if tests_dir.is_dir():
        for path in sorted(tests_dir.glob(f"test_{module}*.py"))[:3]:
            existing[f"tests/{path.name}"] = path.read_text(encoding="utf-8")
    return existing

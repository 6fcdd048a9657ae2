"""The review queue: propose -> test -> ready/rejected -> approved -> applied -> kept/rolled back.

Every transition is persisted (with the actor) and published as
:class:`PatchChanged`; every decision is audited with the diff's hash.
Applying goes through the hot-reload registry (a new version, origin
``patch``), writes the module and the new tests into the workspace, and starts
a watch that rolls the patch back by itself if the tool gets worse.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chimera_engine.audit.log import AuditLog
from chimera_engine.errors import ConflictError, ValidationError
from chimera_engine.events import EventBus, PatchChanged
from chimera_engine.modules.manager import HotReloadManager
from chimera_engine.modules.models import Origin
from chimera_engine.patches.attempts import AttemptRepository, trigger_of
from chimera_engine.patches.generator import CodeGenerator, GenerationReport, Progress
from chimera_engine.patches.hunk_review import HunkReview, operator_patch_fields
from chimera_engine.patches.models import Patch, PatchRequest, PatchState
from chimera_engine.patches.patchformat import (
    PatchContent,
    PatchFormatError,
    materialise,
    parse_answer,
)
from chimera_engine.patches.progress import ProgressGate, attempt_keeper
from chimera_engine.patches.risk import assess
from chimera_engine.patches.sandbox import PatchTester
from chimera_engine.patches.store import PatchRepository, PatternStore
from chimera_engine.patches.watch import Baseline, Verdict, WatchPolicy, watch
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.patches.providers.base import Completion

log = logging.getLogger(__name__)

Spawner = Callable[[Coroutine[Any, Any, Any], str], object]


@dataclass(frozen=True, kw_only=True)
class ApprovalPolicy:
    """Auto-approval (off by default) for patches whose tests pass and diff is small."""

    auto_approve: bool = False
    max_changed_lines: int = 20
    allow_risk: tuple[str, ...] = ("low",)


@dataclass(frozen=True, kw_only=True)
class ProposalOutcome:
    patch: Patch | None
    report: GenerationReport


class ReviewQueue(HunkReview):
    def __init__(
        self,
        *,
        repo: PatchRepository,
        patterns: PatternStore,
        tester: PatchTester,
        reload: HotReloadManager,
        audit: AuditLog,
        bus: EventBus,
        spawn: Spawner,
        approval: ApprovalPolicy | None = None,
        watch_policy: WatchPolicy | None = None,
        baseline: Callable[[str, int], Baseline] | None = None,
        attempts: AttemptRepository | None = None,
    ) -> None:
        self.repo = repo
        #: Every generation attempt, usable or not (None: not kept).
        self.attempts = attempts
        self.patterns = patterns
        self.tester = tester
        self.reload = reload
        self._audit = audit
        self._bus = bus
        self._spawn = spawn
        self.approval = approval or ApprovalPolicy()
        self.watch_policy = watch_policy or WatchPolicy()
        self._baseline = baseline or (
            lambda module, version: Baseline(calls=0, errors=0, latency_s=0.0)
        )
        self._open: dict[str, int] = {}
        self.verdicts: dict[int, Verdict] = {}

    async def resume(self) -> None:
        """After a restart: watch again every patch that was applied but not yet judged."""
        for patch in await self.repo.find(states=(PatchState.APPLIED,)):
            if patch.applied_version is None:
                continue
            baseline = self._baseline(patch.module, patch.base_version)
            self._spawn(
                self._watch(patch, patch.applied_version, baseline), f"watch-patch-{patch.id}"
            )

    # -- proposing ------------------------------------------------------------------------
    def module_path(self, module: str) -> str:
        return f"tools/{module}.py"

    def existing_tests(self) -> set[str]:
        tests_dir = self.reload.workspace.tests_dir
        if not tests_dir.is_dir():
            return set()
        return {f"tests/{p.relative_to(tests_dir).as_posix()}" for p in tests_dir.rglob("*.py")}

    async def propose(
        self,
        generator: CodeGenerator,
        request: PatchRequest,
        principal: Principal,
        *,
        progress: Progress | None = None,
    ) -> ProposalOutcome:
        """Ask the provider for a fix and test each candidate until one passes.

        Every attempt is kept in :attr:`attempts` with the request's trigger and
        evidence; ``progress`` is told how far a streamed answer has come.
        """
        path = self.module_path(request.module)
        last: list[Patch] = []
        run_id = uuid.uuid4().hex[:12]
        trigger = trigger_of(request, principal.actor)
        patch_of: dict[int, int] = {}

        keep = attempt_keeper(
            self.attempts, self._bus, run_id, request, principal.actor, trigger, patch_of
        )
        shown = ProgressGate(self._bus, request.module, progress)

        async def candidate(
            content: PatchContent, completion: Completion, attempt: int
        ) -> str | None:
            patch = await self._record(request, content, completion, attempt, principal)
            last.append(patch)
            patch_of[attempt] = patch.id
            tested = await self._test(patch, content, principal)
            return None if tested.state is PatchState.READY else tested.reason

        report = await generator.generate(
            request,
            path=path,
            existing_tests=await asyncio.to_thread(self.existing_tests),
            on_candidate=candidate,
            on_attempt=keep,
            progress=shown,
        )
        await self._audit.record(
            principal,
            "patch.generate",
            target=request.module,
            outcome="ok" if report.ok else "error",
            provider=report.provider,
            model=report.model,
            replay=report.replay,
            attempts=report.attempts,
            cost_usd=round(report.cost_usd, 6),
            input_tokens=report.input_tokens if report.usage_known else None,
            output_tokens=report.output_tokens if report.usage_known else None,
            trigger=trigger["reason"],
            reasons=report.reasons[-5:],
        )
        patch = await self.repo.get(last[-1].id) if last else None
        if patch is not None and patch.state is PatchState.READY:
            await self._maybe_auto_approve(patch)
            patch = await self.repo.get(patch.id)
        return ProposalOutcome(patch=patch, report=report)

    async def _record(
        self,
        request: PatchRequest,
        content: PatchContent,
        completion: Completion,
        attempt: int,
        principal: Principal,
    ) -> Patch:
        risk, _ = assess(content.diff, content.tests)
        patch = await self.repo.create(
            module=request.module,
            base_version=request.base_version,
            state=PatchState.PROPOSED.value,
            provider=completion.provider,
            model=completion.model,
            replay=int(completion.replay),
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=completion.cost_usd,
            diff=content.diff,
            diff_hash=content.diff_hash,
            files=content.files,
            originals=content.originals,
            tests=content.tests,
            rationale=content.rationale,
            risk=risk,
            result=None,
            decided_by=principal.actor,
            signature=request.signature,
            attempts=attempt,
        )
        self._publish(patch)
        return patch

    async def _test(self, patch: Patch, content: PatchContent, principal: Principal) -> Patch:
        patch = await self.repo.transition(patch.id, PatchState.TESTING, actor=principal.actor)
        self._publish(patch)
        result = await self.tester.test(content, patch.module)
        state = PatchState.READY if result.ok else PatchState.REJECTED
        patch = await self.repo.transition(
            patch.id,
            state,
            actor="sandbox",
            detail=result.reason,
            result=result.as_dict(),
            reason="" if result.ok else result.reason,
        )
        self._publish(patch)
        await self._audit.record(
            principal,
            "patch.test",
            target=f"patch:{patch.id}",
            outcome="ok" if result.ok else "error",
            diff_hash=patch.diff_hash,
            reason=result.reason,
            duration_s=round(result.duration_s, 3),
        )
        return patch

    async def _maybe_auto_approve(self, patch: Patch) -> None:
        policy = self.approval
        changed = sum(
            1 for ln in patch.diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
        )
        if not policy.auto_approve or patch.risk not in policy.allow_risk:
            return
        if not patch.result or patch.result.get("reduced") or not patch.result.get("ok"):
            return  # tested without full kernel isolation: a person decides
        if changed > policy.max_changed_lines:
            return
        await self.approve(
            patch.id,
            Principal.system("auto-approve"),
            policy_note=(
                f"auto-approved by policy: tests passed, {changed} changed lines, risk {patch.risk}"
            ),
        )

    # -- decisions ------------------------------------------------------------------------
    async def approve(self, patch_id: int, principal: Principal, *, policy_note: str = "") -> Patch:
        """Approve a ready patch and apply it at once (no restart)."""
        patch = await self.repo.transition(
            patch_id,
            PatchState.APPROVED,
            actor=principal.actor,
            detail=policy_note,
            decided_by=principal.actor,
        )
        self._publish(patch)
        await self._audit.record(
            principal,
            "patch.approve",
            target=f"patch:{patch_id}",
            module=patch.module,
            diff_hash=patch.diff_hash,
            policy=policy_note or None,
            capability=principal.token_id if principal.via == "capability" else None,
        )
        return await self.apply(patch, principal)

    async def reject(self, patch_id: int, principal: Principal, reason: str) -> Patch:
        if not reason.strip():
            raise ValidationError("say why the patch is rejected")
        current = await self.repo.get(patch_id)
        if current.state in (PatchState.PROPOSED, PatchState.TESTING):
            raise ConflictError(f"patch {patch_id} is still being tested; wait for its verdict")
        patch = await self.repo.transition(
            patch_id,
            PatchState.REJECTED,
            actor=principal.actor,
            detail=reason,
            reason=reason.strip()[:1000],
            decided_by=principal.actor,
        )
        self._publish(patch)
        await self._audit.record(
            principal,
            "patch.reject",
            target=f"patch:{patch_id}",
            diff_hash=patch.diff_hash,
            reason=reason,
        )
        return patch

    async def edit(self, patch_id: int, principal: Principal, answer_text: str) -> Patch:
        """The operator's own version of a patch (same answer format): recorded and re-tested."""
        base = await self.repo.get(patch_id)
        if base.state not in (PatchState.READY, PatchState.REJECTED):
            raise ConflictError(
                f"patch {patch_id} is {base.state.value}; only ready or rejected patches can be "
                "edited"
            )
        path = self.module_path(base.module)
        original = base.originals.get(path, "")
        try:
            content = materialise(
                parse_answer(answer_text),
                {path: original},
                allowed={path},
                existing_tests=await asyncio.to_thread(self.existing_tests),
            )
        except PatchFormatError as exc:
            await self._audit.record(
                principal,
                "patch.edit",
                target=f"patch:{patch_id}",
                outcome="error",
                reason=str(exc),
            )
            raise
        risk, _ = assess(content.diff, content.tests)
        patch = await self.repo.create(
            base_version=base.base_version,
            provider="operator",
            model=principal.actor,
            replay=0,
            rationale=f"edited from patch {patch_id} by {principal.actor}",
            **operator_patch_fields(base, content, principal, risk),
        )
        self._publish(patch)
        await self._audit.record(
            principal,
            "patch.edit",
            target=f"patch:{patch.id}",
            source_patch=patch_id,
            diff_hash=patch.diff_hash,
        )
        return await self._test(patch, content, principal)

    # -- applying and watching ----------------------------------------------------------------
    async def apply(self, patch: Patch, principal: Principal) -> Patch:
        path = self.module_path(patch.module)
        active = self.reload.registry.active.get(patch.module)
        if active is None or active.version != patch.base_version:
            now = active.version if active else None
            patch = await self.repo.transition(
                patch.id,
                PatchState.REJECTED,
                actor="engine",
                reason=(
                    f"the module changed since the patch was made (v{patch.base_version} -> v{now})"
                ),
            )
            self._publish(patch)
            return patch
        baseline = self._baseline(patch.module, patch.base_version)
        result = await self.reload.reload_module(
            patch.module,
            source=patch.files[path],
            origin=Origin.PATCH,
            principal=principal,
            parent=patch.base_version,
        )
        if not result.ok:
            patch = await self.repo.transition(
                patch.id,
                PatchState.REJECTED,
                actor="engine",
                reason=f"hot reload refused it: {result.reason}",
            )
            self._publish(patch)
            return patch
        await self._write_files(patch)
        patch = await self.repo.transition(
            patch.id,
            PatchState.APPLIED,
            actor=principal.actor,
            detail=f"active as v{result.version}",
            applied_version=result.version,
        )
        self._publish(patch)
        assert result.version is not None
        self._spawn(self._watch(patch, result.version, baseline), f"watch-patch-{patch.id}")
        return patch

    async def _write_files(self, patch: Patch) -> None:
        workspace = self.reload.workspace

        def write() -> None:
            for path, content in patch.files.items():
                workspace.write_source(path.removeprefix("tools/").removesuffix(".py"), content)
            for path, content in patch.tests.items():
                target = workspace.root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")

        await asyncio.get_running_loop().run_in_executor(None, write)

    async def _watch(self, patch: Patch, version: int, baseline: Baseline) -> None:
        verdict = await watch(self._bus, patch.module, version, baseline, self.watch_policy)
        self.verdicts[patch.id] = verdict
        current = await self.repo.get(patch.id)
        if current.state is not PatchState.APPLIED:
            return
        if verdict.keep:
            kept = await self.repo.transition(
                patch.id, PatchState.KEPT, actor="watch", detail=verdict.reason
            )
            await self.patterns.add(kept)
            self._publish(kept)
            await self._audit.record(
                Principal.system("patch-watch"),
                "patch.keep",
                target=f"patch:{patch.id}",
                reason=verdict.reason,
            )
        else:
            await self.rollback(patch.id, Principal.system("patch-watch"), verdict.reason)

    async def rollback(self, patch_id: int, principal: Principal, reason: str) -> Patch:
        """Return the module to the version the patch replaced, and say why."""
        patch = await self.repo.get(patch_id)
        if patch.state not in (PatchState.APPLIED, PatchState.KEPT):
            raise ConflictError(
                f"patch {patch_id} is {patch.state.value}; only applied patches roll back"
            )
        base = self.reload.registry.get(patch.module, patch.base_version)
        result = await self.reload.reload_module(
            patch.module,
            source=base.source,
            origin=Origin.ROLLBACK,
            principal=principal,
            force=True,
            parent=patch.base_version,
        )
        if not result.ok:
            raise ConflictError(f"rollback of patch {patch_id} failed: {result.reason}")
        await asyncio.get_running_loop().run_in_executor(
            None, self.reload.workspace.write_source, patch.module, base.source
        )
        patch = await self.repo.transition(
            patch_id,
            PatchState.ROLLED_BACK,
            actor=principal.actor,
            detail=reason,
            reason=reason,
        )
        self._publish(patch)
        await self._audit.record(
            principal,
            "patch.rollback",
            target=f"patch:{patch_id}",
            reason=reason,
            restored_version=result.version,
        )
        return patch

    def _publish(self, patch: Patch) -> None:
        self._bus.publish(
            PatchChanged(
                patch_id=patch.id, module=patch.module, state=patch.state.value, reason=patch.reason
            )
        )

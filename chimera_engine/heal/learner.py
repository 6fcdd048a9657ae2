"""How metacognition asks for a fix: the same review-queue path the facade uses.

:class:`PatchLearner` checks ``patch.generate`` for the acting (system)
principal, gathers the evidence the facade gathers for ``chimera patch
request`` (source, recent failing calls with inputs and tracebacks, existing
tests), adds metacognition's own (confidence, anomalies, forecasts, the
trigger), and hands the request to :meth:`ReviewQueue.propose`, which records,
tests, audits and (by policy) auto-approves the candidate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from chimera_engine.errors import ConflictError
from chimera_engine.patches.generator import CodeGenerator
from chimera_engine.patches.models import Patch, PatchRequest, PatchState
from chimera_engine.patches.review import ProposalOutcome, ReviewQueue
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

#: Patch states in which a patch is still under way (a request for its module is open).
OPEN_STATES = frozenset(
    {
        PatchState.PROPOSED.value,
        PatchState.TESTING.value,
        PatchState.READY.value,
        PatchState.APPROVED.value,
        PatchState.APPLIED.value,
    }
)


@dataclass(frozen=True, kw_only=True)
class LearningEvidence:
    """What metacognition knows about the tool, attached to the patch request."""

    tool: str
    version: int
    trigger: str
    reason: str
    confidence: float
    success_rate: float
    latency_ms_p50: float
    calls: int
    signals: tuple[str, ...] = ()

    def note(self) -> str:
        return (
            f"Preventive learning, triggered by {self.trigger}: {self.reason}. "
            f"Tool {self.tool} v{self.version}: confidence {self.confidence:.2f}, "
            f"success rate {self.success_rate:.0%} over {self.calls} calls, "
            f"median latency {self.latency_ms_p50:.1f} ms."
        )


class Learner(Protocol):
    """Where preventive learning goes (the review queue in the engine)."""

    async def request(
        self, module: str, evidence: LearningEvidence, principal: Principal
    ) -> ProposalOutcome: ...

    async def open_patches(self) -> list[Patch]: ...


Authorize = Callable[[Principal, Permission, str], Awaitable[None]]


class PatchLearner:
    def __init__(
        self,
        *,
        authorize: Authorize,
        build_request: Callable[[str, str], Awaitable[PatchRequest]],
        queue: ReviewQueue,
        generator: Callable[[], CodeGenerator],
    ) -> None:
        self._authorize = authorize
        self._build_request = build_request
        self._queue = queue
        self._generator = generator

    async def request(
        self, module: str, evidence: LearningEvidence, principal: Principal
    ) -> ProposalOutcome:
        """Ask for a tested fix of ``module``; ConflictError if it changed meanwhile."""
        await self._authorize(principal, Permission.PATCH_GENERATE, module)
        request = await self._build_request(module, evidence.note())
        if request.base_version != evidence.version:
            raise ConflictError(
                f"{module} is now v{request.base_version}, not v{evidence.version}; "
                "the evidence is out of date"
            )
        request = dataclasses.replace(
            request,
            trigger=f"metacognition ({evidence.trigger}): {evidence.reason}",
            anomalies=[*request.anomalies, *evidence.signals],
            metrics={
                **request.metrics,
                "confidence": evidence.confidence,
                "success_rate": evidence.success_rate,
                "latency_ms_p50": evidence.latency_ms_p50,
            },
        )
        return await self._queue.propose(self._generator(), request, principal)

    async def open_patches(self) -> list[Patch]:
        states = tuple(PatchState(s) for s in sorted(OPEN_STATES))
        return await self._queue.repo.find(states=states)

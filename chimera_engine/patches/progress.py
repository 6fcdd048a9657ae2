"""What a patch generation tells the bus as it goes: streamed progress and kept attempts."""

from __future__ import annotations

import time
from typing import Any

from chimera_engine.events import EventBus, PatchAttemptRecorded, PatchProgress
from chimera_engine.patches.attempts import AttemptDraft, AttemptRepository
from chimera_engine.patches.generator import AttemptSink, Progress
from chimera_engine.patches.models import PatchRequest


def attempt_keeper(
    repo: AttemptRepository | None,
    bus: EventBus,
    run_id: str,
    request: PatchRequest,
    actor: str,
    trigger: dict[str, Any],
    patch_of: dict[int, int],
) -> AttemptSink:
    """Stores each attempt of one run (linked to its patch via ``patch_of``) and announces it."""

    async def keep(draft: AttemptDraft) -> None:
        if repo is None:
            return
        kept = await repo.add(
            draft,
            run_id=run_id,
            request=request,
            actor=actor,
            trigger=trigger,
            patch_id=patch_of.get(draft.number),
        )
        bus.publish(
            PatchAttemptRecorded(
                attempt_id=kept.id,
                module=kept.module,
                number=kept.number,
                verdict=kept.verdict,
                reason=kept.reason,
                patch_id=kept.patch_id,
            )
        )

    return keep


class ProgressGate:
    """Publishes :class:`PatchProgress` at most every ``interval`` seconds per attempt."""

    def __init__(
        self, bus: EventBus, module: str, also: Progress | None, interval: float = 0.5
    ) -> None:
        self._bus = bus
        self._module = module
        self._also = also
        self._interval = interval
        self._attempt = 0
        self._began = 0.0
        self._last = 0.0

    def __call__(self, attempt: int, chars: int, pieces: int) -> None:
        now = time.monotonic()
        if attempt != self._attempt:
            self._attempt, self._began, self._last = attempt, now, 0.0
        if self._also is not None:
            self._also(attempt, chars, pieces)
        if now - self._last < self._interval:
            return
        self._last = now
        self._bus.publish(
            PatchProgress(
                module=self._module,
                attempt=attempt,
                chars=chars,
                pieces=pieces,
                elapsed_s=now - self._began,
            )
        )

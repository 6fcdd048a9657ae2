"""CodeGenerator: asks a provider for a patch with tests, within a loop guard.

Each attempt's answer is parsed and applied strictly; a malformed answer, a
patch the sandbox rejects, or a truncated stream is fed back to the model as
the reason, up to ``max_attempts``. The loop also stops at the cost cap and
when the model repeats an earlier answer (an identical retry is never sent
twice). Every candidate that materialises is handed to ``on_candidate``
(which records and tests it) and the first that passes ends the loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chimera_engine.codegen.models import PatchRequest
from chimera_engine.codegen.patchformat import (
    PatchContent,
    PatchFormatError,
    materialise,
    parse_answer,
)
from chimera_engine.codegen.prompts import SYSTEM, build_prompt
from chimera_engine.codegen.store import PatternStore

if TYPE_CHECKING:
    from chimera_engine.codegen.providers.base import Completion, Provider

#: Records and tests a candidate; returns None when it passed, else the reason it failed.
Candidate = Callable[[PatchContent, "Completion", int], Awaitable[str | None]]


@dataclass(frozen=True, kw_only=True)
class GenerationPolicy:
    max_attempts: int = 3
    max_cost_usd: float = 1.0
    max_tokens: int = 4000
    timeout: float = 120.0


@dataclass(kw_only=True)
class GenerationReport:
    ok: bool = False
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    provider: str = ""
    model: str = ""
    replay: bool = False


class CodeGenerator:
    def __init__(
        self,
        provider: Provider,
        patterns: PatternStore,
        policy: GenerationPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.patterns = patterns
        self.policy = policy or GenerationPolicy()

    async def generate(
        self,
        request: PatchRequest,
        *,
        path: str,
        existing_tests: set[str],
        on_candidate: Candidate,
    ) -> GenerationReport:
        from chimera_engine.codegen.providers.base import CompletionRequest, ProviderError

        report = GenerationReport(
            provider=self.provider.name, model=self.provider.model, replay=self.provider.is_replay
        )
        patterns = await self.patterns.similar(request.signature)
        feedback: list[str] = []
        answers: set[str] = set()
        diffs: set[str] = set()
        for attempt in range(1, self.policy.max_attempts + 1):
            if report.cost_usd >= self.policy.max_cost_usd:
                report.reasons.append(
                    f"stopped: the cost cap of ${self.policy.max_cost_usd:.2f} was reached"
                )
                break
            prompt = build_prompt(request, path, patterns, feedback)
            report.attempts = attempt
            try:
                completion = await self.provider.complete(
                    CompletionRequest(
                        system=SYSTEM,
                        prompt=prompt,
                        max_tokens=self.policy.max_tokens,
                        temperature=0.0 if attempt == 1 else 0.3,
                        timeout=self.policy.timeout,
                    )
                )
            except ProviderError as exc:
                report.reasons.append(f"attempt {attempt}: provider error: {exc}")
                break
            report.input_tokens += completion.input_tokens
            report.output_tokens += completion.output_tokens
            report.cost_usd += completion.cost_usd or 0.0
            if completion.truncated:
                reason = "the answer was cut off before it ended (truncated)"
                report.reasons.append(f"attempt {attempt}: {reason}")
                feedback.append(reason)
                continue
            digest = hashlib.sha256(completion.text.encode()).hexdigest()
            if digest in answers:
                report.reasons.append(f"attempt {attempt}: the model repeated an earlier answer")
                break
            answers.add(digest)
            try:
                content = materialise(
                    parse_answer(completion.text),
                    {path: request.source},
                    allowed={path},
                    existing_tests=existing_tests,
                )
            except PatchFormatError as exc:
                report.reasons.append(f"attempt {attempt}: {exc}")
                feedback.append(str(exc))
                continue
            if content.diff_hash in diffs:
                report.reasons.append(f"attempt {attempt}: the same patch was proposed again")
                break
            diffs.add(content.diff_hash)
            rejection = await on_candidate(content, completion, attempt)
            if rejection is None:
                report.ok = True
                return report
            report.reasons.append(f"attempt {attempt}: {rejection}")
            feedback.append(rejection)
        return report

"""CodeGenerator: asks a provider for a patch with tests, within a loop guard.

Each attempt's answer is parsed and applied strictly; a malformed answer, a
patch the sandbox rejects, or a truncated stream is fed back to the model as
the reason, up to ``max_attempts``. The loop also stops at the cost cap and
when the model repeats an earlier answer (an identical retry is never sent
twice). Every candidate that materialises is handed to ``on_candidate``
(which records and tests it) and the first that passes ends the loop.

Every attempt, usable or not, is handed to ``on_attempt`` as an
:class:`~chimera_engine.patches.attempts.AttemptDraft` (prompt, answer,
verdict, tokens or None when unreported, cost, latency). The prompt and the
output limit are fitted to the model's context (:mod:`.budget`): the
server's figure where it tells, else ``GenerationPolicy.context_tokens``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chimera_engine.patches import attempts as verdicts
from chimera_engine.patches.attempts import AttemptDraft
from chimera_engine.patches.budget import plan_prompt
from chimera_engine.patches.models import PatchRequest
from chimera_engine.patches.patchformat import (
    PatchContent,
    PatchFormatError,
    materialise,
    parse_answer,
)
from chimera_engine.patches.prompts import SYSTEM
from chimera_engine.patches.store import PatternStore

if TYPE_CHECKING:
    from chimera_engine.patches.providers.base import Completion, Provider

#: Records and tests a candidate; returns None when it passed, else the reason it failed.
Candidate = Callable[[PatchContent, "Completion", int], Awaitable[str | None]]
#: Records one attempt when it is over.
AttemptSink = Callable[[AttemptDraft], Awaitable[None]]
#: Told (attempt, characters, pieces) as an answer streams in; must return at once.
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, kw_only=True)
class GenerationPolicy:
    """Limits of one generation run.

    ``max_tokens`` caps each answer; ``context_tokens`` is the model's context
    window when the server does not tell it (None: unknown, no fitting);
    ``min_output_tokens`` is the least room an answer needs.
    """

    max_attempts: int = 3
    max_cost_usd: float = 1.0
    max_tokens: int = 4000
    timeout: float = 120.0
    context_tokens: int | None = None
    min_output_tokens: int = 512


@dataclass(kw_only=True)
class GenerationReport:
    ok: bool = False
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    #: False when some attempt's server did not report its token usage.
    usage_known: bool = True
    context_tokens: int | None = None
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
        self._context: int | None = None
        self._context_asked = False

    async def context_length(self) -> int | None:
        """The model's context in tokens: the server's figure (asked once), else the policy's."""
        if not self._context_asked:
            ask = getattr(self.provider, "context_length", None)
            if ask is not None:
                self._context = await ask()
            self._context_asked = True
        return self._context or self.policy.context_tokens

    async def generate(
        self,
        request: PatchRequest,
        *,
        path: str,
        existing_tests: set[str],
        on_candidate: Candidate,
        on_attempt: AttemptSink | None = None,
        progress: Progress | None = None,
    ) -> GenerationReport:
        from chimera_engine.patches.providers.base import (
            CompletionRequest,
            ProviderContextOverflow,
            ProviderError,
            ProviderNotAPI,
        )

        provider = self.provider
        report = GenerationReport(
            provider=provider.name, model=provider.model, replay=provider.is_replay
        )
        report.context_tokens = await self.context_length()
        patterns = await self.patterns.similar(request.signature)
        feedback: list[str] = []
        answers: set[str] = set()
        diffs: set[str] = set()

        async def record(draft: AttemptDraft) -> None:
            if draft.verdict != verdicts.PASSED:
                report.reasons.append(f"attempt {draft.number}: {draft.reason}")
            if on_attempt is not None:
                await on_attempt(draft)

        for attempt in range(1, self.policy.max_attempts + 1):
            if report.cost_usd >= self.policy.max_cost_usd:
                report.reasons.append(
                    f"stopped: the cost cap of ${self.policy.max_cost_usd:.2f} was reached"
                )
                break
            report.attempts = attempt
            plan = plan_prompt(
                request,
                path,
                patterns,
                feedback,
                context=report.context_tokens,
                max_tokens=self.policy.max_tokens,
                min_output=self.policy.min_output_tokens,
            )
            draft = _Draft(attempt, provider, plan.prompt)
            if plan.error:
                await record(draft.done(verdicts.CONTEXT, plan.error))
                break
            tick = None if progress is None else _ticker(progress, attempt)
            started = time.monotonic()
            try:
                completion = await provider.complete(
                    CompletionRequest(
                        system=SYSTEM,
                        prompt=plan.prompt,
                        max_tokens=plan.max_tokens,
                        temperature=0.0 if attempt == 1 else 0.3,
                        timeout=self.policy.timeout,
                        progress=tick,
                    )
                )
            except ProviderContextOverflow as exc:
                draft.latency_s = time.monotonic() - started
                size = f" ({report.context_tokens:,} tokens)" if report.context_tokens else ""
                reason = f"the model's context{size} is too small for this prompt: {exc}"
                await record(draft.done(verdicts.CONTEXT, reason))
                break
            except ProviderError as exc:
                draft.latency_s = time.monotonic() - started
                kind = verdicts.NOT_API if isinstance(exc, ProviderNotAPI) else verdicts.PROVIDER
                await record(draft.done(kind, f"provider error: {exc}"))
                break
            draft.took(completion, time.monotonic() - started)
            report.usage_known = report.usage_known and completion.usage_known
            report.input_tokens += completion.input_tokens
            report.output_tokens += completion.output_tokens
            report.cost_usd += completion.cost_usd or 0.0
            if completion.truncated:
                reason = "truncated: " + _truncation(
                    completion, plan.max_tokens, report.context_tokens
                )
                await record(draft.done(verdicts.TRUNCATED, reason))
                feedback.append("the answer was cut off before it ended: answer more briefly")
                continue
            digest = hashlib.sha256(completion.text.encode()).hexdigest()
            if digest in answers:
                await record(draft.done(verdicts.REPEATED, "the model repeated an earlier answer"))
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
                await record(draft.done(verdicts.UNPARSEABLE, str(exc)))
                feedback.append(str(exc))
                continue
            if content.diff_hash in diffs:
                await record(draft.done(verdicts.REPEATED, "the same patch was proposed again"))
                break
            diffs.add(content.diff_hash)
            rejection = await on_candidate(content, completion, attempt)
            if rejection is None:
                await record(draft.done(verdicts.PASSED, "its tests passed in the sandbox"))
                report.ok = True
                return report
            await record(draft.done(verdicts.SANDBOX, rejection))
            feedback.append(rejection)
        return report


class _Draft:
    """An attempt being made: filled in as its answer arrives."""

    def __init__(self, number: int, provider: Provider, prompt: str) -> None:
        self.number = number
        self.provider = provider.name
        self.model = provider.model
        self.scripted = provider.is_replay
        self.prompt = prompt
        self.answer = ""
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost_usd: float | None = None
        self.latency_s: float | None = None

    def took(self, completion: Completion, latency_s: float) -> None:
        self.answer = completion.text
        self.model = completion.model or self.model
        self.latency_s = latency_s
        self.cost_usd = completion.cost_usd
        if completion.usage_known:
            self.input_tokens = completion.input_tokens
            self.output_tokens = completion.output_tokens

    def done(self, verdict: str, reason: str) -> AttemptDraft:
        return AttemptDraft(
            number=self.number,
            provider=self.provider,
            model=self.model,
            scripted=self.scripted,
            prompt=self.prompt,
            answer=self.answer,
            verdict=verdict,
            reason=reason,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            latency_s=self.latency_s,
        )


def _ticker(progress: Progress, attempt: int) -> Callable[[int, int], None]:
    return lambda chars, pieces: progress(attempt, chars, pieces)


def _truncation(completion: Completion, limit: int, context: int | None) -> str:
    """Why an answer was cut off, in the operator's terms."""
    if completion.finish_reason != "length":
        return (
            f"the answer was cut off before it ended (the stream stopped: "
            f"{completion.finish_reason})"
        )
    used = completion.input_tokens + completion.output_tokens
    if context is not None and completion.usage_known and used >= context - 8:
        return (
            f"the answer was cut off by the model's context ({context:,} tokens: "
            f"prompt {completion.input_tokens:,} + answer {completion.output_tokens:,})"
        )
    if completion.usage_known and completion.output_tokens < limit - 8:
        return (
            f"the answer was cut off after {completion.output_tokens:,} tokens, below the "
            f"output limit of {limit:,}: the server's context is probably smaller than "
            "configured"
        )
    return (
        f"the answer was cut off at the output limit of {limit:,} tokens (raise codegen max_tokens)"
    )

"""Retries with exponential back-off and jitter for transient provider failures.

Only :class:`ProviderRateLimited`, :class:`ProviderUnavailable` and
:class:`ProviderTimeout` are retried (their ``retryable`` flag); an auth error,
a rejected request or a malformed/cut stream is raised at once. The SDKs' own
retries must be off (``max_retries=0``) so that this is the one policy.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from chimera_engine.patches.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderTimeout,
)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one ``complete`` call.

    Attempt ``n`` (from 1) that fails transiently is followed by a pause of
    ``base_delay * 2**(n-1)`` seconds, jittered into its upper half and capped
    at ``max_delay``; a server's Retry-After hint replaces the back-off when it
    is longer, but is capped at ``max_delay`` too. No new attempt starts once
    ``total_timeout`` seconds have passed since the first one (or would pass
    during the pause). ``sleep``, ``clock`` and ``rand`` are injectable so that
    tests need not wait: ``RetryPolicy(sleep=no_sleep)``.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_timeout: float = 60.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.total_timeout <= 0:
            raise ValueError("delays must not be negative and total_timeout must be positive")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        >>> p = RetryPolicy(rand=lambda: 1.0)
        >>> [p.delay(n) for n in (1, 2, 3, 4, 5, 6)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        >>> p.delay(1, retry_after=3.0), p.delay(1, retry_after=120.0)
        (3.0, 8.0)
        """
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jittered = backoff * (0.5 + 0.5 * self.rand())
        if retry_after is not None and retry_after > jittered:
            return min(retry_after, self.max_delay)
        return jittered


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, or ``retry-after`` as
    seconds or an HTTP date; ``None`` when absent or unreadable.

    >>> parse_retry_after({"retry-after": "7"}), parse_retry_after({"retry-after-ms": "250"})
    (7.0, 0.25)
    >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
    10.0
    >>> parse_retry_after({}) is None, parse_retry_after({"retry-after": "soon"}) is None
    (True, True)
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
    except ValueError:
        pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def complete_with_retry(
    attempt: Callable[[], Awaitable[Completion]],
    policy: RetryPolicy,
    *,
    attempt_timeout: float | None = None,
    provider: str = "",
) -> Completion:
    """Run ``attempt`` until it succeeds, a non-retryable error occurs or the policy gives up.

    Each attempt is bounded by ``attempt_timeout`` seconds (-> ProviderTimeout).
    The returned Completion carries ``attempts`` and ``latency_s`` for the
    whole call. On giving up the last error is raised with ``attempts`` set.
    Cancellation is never swallowed.
    """
    started = policy.clock()
    number = 0
    while True:
        number += 1
        try:
            if attempt_timeout is None:
                result = await attempt()
            else:
                result = await _bounded(attempt, attempt_timeout, provider)
        except ProviderError as err:
            err.attempts = number
            if not err.retryable or number >= policy.max_attempts:
                raise
            retry_after = getattr(err, "retry_after", None)
            pause = policy.delay(number, retry_after)
            if policy.clock() - started + pause > policy.total_timeout:
                raise
            await policy.sleep(pause)
            continue
        return replace(result, attempts=number, latency_s=policy.clock() - started)


async def _bounded(
    attempt: Callable[[], Awaitable[Completion]], timeout: float, provider: str
) -> Completion:
    try:
        async with asyncio.timeout(timeout):
            return await attempt()
    except TimeoutError as err:
        raise ProviderTimeout(
            f"{provider or 'the provider'} did not finish answering within {timeout:g} s",
            provider=provider,
        ) from err


async def ask_with_retry(
    attempt: Callable[[CompletionRequest], Awaitable[Completion]],
    request: CompletionRequest,
    policy: RetryPolicy,
    provider: str,
) -> Completion:
    """A provider's ``complete``: ``attempt(request)`` under ``policy``, each try bounded by
    the request's timeout."""
    return await complete_with_retry(
        lambda: attempt(request), policy, attempt_timeout=request.timeout, provider=provider
    )

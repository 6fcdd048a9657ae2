"""Provider failures in an operator's words, and the retirement of a provider.

Used by Settings > LLM provider's *Test connection*, ``chimera provider test`` and
the engine when it swaps providers."""

from __future__ import annotations

import asyncio

from chimera_engine.errors import ConfigError
from chimera_engine.patches.providers.base import (
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderExhausted,
    ProviderNotAPI,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnknownModel,
    ProviderWrongAPI,
)
from chimera_engine.security.secretstore import SecretStoreError


def describe_failure(exc: BaseException, model: str) -> tuple[str, str]:
    """``(kind, message)`` for a failed provider test, in operator words."""
    text = str(exc)
    if isinstance(exc, ProviderAuthError):
        if exc.status is None:
            return "auth", f"No API key: {text}"
        return "auth", f"The API key was refused: {text}"
    if isinstance(exc, ProviderTimeout):
        return "timeout", f"No answer in time: {text}"
    if isinstance(exc, ProviderRateLimited):
        return "rate_limited", f"The key works, but the server is rate limiting: {text}"
    if isinstance(exc, ProviderUnavailable):
        if exc.status is None:
            return "unreachable", f"The server cannot be reached: {text}"
        return "unreachable", f"The server is unavailable: {text}"
    if isinstance(exc, ProviderWrongAPI):
        return "wrong_api", f"Wrong API kind: {text}"
    if isinstance(exc, ProviderNotAPI):
        return "not_api", f"Not an API answer: {text}"
    if isinstance(exc, ProviderExhausted):
        return "scripted", text
    if isinstance(exc, ProviderUnknownModel):
        return "model", f"The server does not know the model {model!r}: {text}"
    if isinstance(exc, ProviderError) and exc.status in (404, 405):
        return "not_api", f"No such API route on the server (check base_url and the kind): {text}"
    if isinstance(exc, (ConfigError, SecretStoreError)):
        return "config", text
    if isinstance(exc, ProviderError):
        return "error", text
    return "error", f"{type(exc).__name__}: {text}"


async def close_after(provider: Provider, seconds: float) -> None:
    """Close ``provider`` once ``seconds`` have passed (or at once when cancelled): calls
    already running on it finish first."""
    try:
        await asyncio.sleep(seconds)
    finally:
        await provider.aclose()

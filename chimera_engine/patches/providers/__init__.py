"""LLM providers for code generation behind one small protocol.

Callers build one with :func:`build_provider` (or a provider class directly),
``await provider.complete(CompletionRequest(...))`` for a :class:`Completion`,
catch :class:`ProviderError`, and ``await provider.aclose()`` when done.
Never apply a completion with ``truncated=True``; label ``replay=True`` ones.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from chimera_engine.patches.providers.base import (
    Completion,
    CompletionRequest,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderExhausted,
    ProviderNotAPI,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnknownModel,
    ProviderWrongAPI,
)
from chimera_engine.patches.providers.factory import (
    build_provider,
    resolve_api_key,
    test_connection,
)
from chimera_engine.patches.providers.pricing import cost_usd, price_for
from chimera_engine.patches.providers.replay import RecordingProvider, ReplayProvider
from chimera_engine.patches.providers.retry import RetryPolicy, complete_with_retry

__all__ = [
    "AnthropicProvider",
    "Completion",
    "CompletionRequest",
    "LocalLLMProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderExhausted",
    "ProviderNotAPI",
    "ProviderRateLimited",
    "ProviderResponseError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ProviderUnknownModel",
    "ProviderWrongAPI",
    "RecordingProvider",
    "ReplayProvider",
    "RetryPolicy",
    "build_provider",
    "complete_with_retry",
    "cost_usd",
    "price_for",
    "resolve_api_key",
    "test_connection",
]


# The SDK-backed providers import openai/anthropic (about a second): load them on demand.
_LAZY = {
    "AnthropicProvider": "chimera_engine.patches.providers.anthropic_provider",
    "LocalLLMProvider": "chimera_engine.patches.providers.local_provider",
    "OpenAIProvider": "chimera_engine.patches.providers.openai_provider",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

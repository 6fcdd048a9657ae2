"""Build a provider from settings, resolve its API key, and test a connection.

Kinds: ``"openai"``, ``"anthropic"``, ``"ollama"``, ``"local"`` (any
OpenAI-compatible server: llama.cpp, vLLM, LM Studio; ``"openai-compatible"``
is accepted as an alias) and ``"replay"``.
API keys come from the environment variable named in the settings
(``OPENAI_API_KEY``/``ANTHROPIC_API_KEY`` by default) or, when the optional
``keyring`` package is importable and has a usable backend, from the OS
keyring entry service ``"chimera"``, username = the kind. Keys are never
logged or put into messages. Building a provider does no network I/O, but a
keyring lookup may block briefly (D-Bus): build providers at start-up or from
a settings dialog, not in a hot path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import httpx
import httpx2

from chimera_engine.errors import ConfigError
from chimera_engine.patches.providers.base import (
    CompletionRequest,
    Provider,
    ProviderAuthError,
    ProviderNotAPI,
    short,
)
from chimera_engine.patches.providers.replay import RecordingProvider, ReplayProvider
from chimera_engine.patches.providers.retry import RetryPolicy
from chimera_engine.patches.providers.sdk import SDKProvider

KINDS = ("openai", "anthropic", "ollama", "local", "replay")
ALIASES = {"openai-compatible": "local"}
KEYRING_SERVICE = "chimera"
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_BASE_URL = {"ollama": "http://127.0.0.1:11434", "local": "http://127.0.0.1:8080"}

KeyringGet = Callable[[str, str], str | None]


def keyring_get(service: str, username: str) -> str | None:
    """The password stored in the OS keyring, or None (no package, no backend, no entry)."""
    try:
        import keyring  # optional: not every install has it
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
        if float(getattr(backend, "priority", 0)) <= 0:  # the "fail" and "null" backends
            return None
        value = keyring.get_password(service, username)
    except Exception:  # any backend failure means "no key there"
        return None
    return value if isinstance(value, str) else None


def resolve_api_key(
    kind: str,
    api_key_env: str | None = None,
    *,
    required: bool = True,
    environ: Mapping[str, str] | None = None,
    keyring: KeyringGet | None = keyring_get,
) -> str | None:
    """The API key for ``kind``: the env var first, then the keyring entry.

    Raises ProviderAuthError naming the variable and the keyring entry to set
    when ``required`` and neither has a key; otherwise returns None.
    """
    env_name = api_key_env or DEFAULT_KEY_ENV.get(kind)
    env = os.environ if environ is None else environ
    if env_name and env.get(env_name, "").strip():
        return env[env_name].strip()
    if keyring is not None:
        stored = keyring(KEYRING_SERVICE, kind)
        if stored and stored.strip():
            return stored.strip()
    if not required:
        return None
    where = f"set the environment variable {env_name} or " if env_name else ""
    raise ProviderAuthError(
        f"no API key for {kind}: {where}store it in the OS keyring "
        f"(service {KEYRING_SERVICE!r}, username {kind!r}: `keyring set {KEYRING_SERVICE} {kind}`)",
        provider=kind,
    )


def build_provider(
    kind: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    transcript: str | os.PathLike[str] | None = None,
    record_to: str | os.PathLike[str] | None = None,
    http_client: httpx2.AsyncClient | httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
    keyring: KeyringGet | None = keyring_get,
) -> Provider:
    """A provider for the settings given; the caller owns it and must ``aclose`` it.

    ``http_client`` must be an ``httpx2.AsyncClient`` for openai/anthropic and
    an ``httpx.AsyncClient`` for ollama/local (the SDKs are built on httpx2).
    ``transcript`` is required for ``"replay"``; ``record_to`` wraps any other
    provider in a :class:`RecordingProvider`. ``model`` is required for
    ``"ollama"`` and ``"local"``. Raises ConfigError for bad settings and
    ProviderAuthError for a missing key.
    """
    provider: Provider
    kind = ALIASES.get(kind, kind)
    if kind == "replay":
        if transcript is None:
            raise ConfigError("the replay provider needs a transcript file (codegen transcript)")
        return ReplayProvider(transcript)
    if kind in ("openai", "anthropic"):
        if http_client is not None and not isinstance(http_client, httpx2.AsyncClient):
            raise TypeError(f"{kind} needs an httpx2.AsyncClient, not {type(http_client)}")
        key = resolve_api_key(kind, api_key_env, environ=environ, keyring=keyring)
        assert key is not None
        # the SDKs are imported only for the provider in use (they are slow to import)
        sdk_provider: type[SDKProvider]
        if kind == "openai":
            from chimera_engine.patches.providers.openai_provider import OpenAIProvider

            sdk_provider = OpenAIProvider
        else:
            from chimera_engine.patches.providers.anthropic_provider import AnthropicProvider

            sdk_provider = AnthropicProvider
        # an empty model name means the provider's default model
        provider = sdk_provider(key, model or None, base_url, http_client=http_client, retry=retry)
    elif kind in ("ollama", "local"):
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(f"{kind} needs an httpx.AsyncClient, not {type(http_client)}")
        if not model:
            raise ConfigError(f"the {kind} provider needs a model name (codegen model)")
        key = None
        if api_key_env:
            key = resolve_api_key(
                kind, api_key_env, required=False, environ=environ, keyring=keyring
            )
        from chimera_engine.patches.providers.local_provider import LocalLLMProvider

        provider = LocalLLMProvider(
            base_url or DEFAULT_BASE_URL[kind],
            model,
            api="ollama" if kind == "ollama" else "openai",
            http_client=http_client,
            api_key=key,
            retry=retry,
        )
    else:
        raise ConfigError(f"unknown codegen provider {kind!r}; choose one of {', '.join(KINDS)}")
    return RecordingProvider(provider, record_to) if record_to is not None else provider


async def test_connection(provider: Provider, *, timeout: float = 20.0) -> str:  # noqa: PT028
    """Send a tiny request and describe the answer, for a "Test connection" button.

    Returns e.g. ``"openai gpt-4o-mini answered "ok" in 0.41 s (19 in, 2 out tokens,
    $0.000004)"``; token counts a server did not report read "unknown". For
    scripted answers nothing is sent: the message says they are scripted and how
    many are left. Raises the ProviderError (an operator-readable message, no key)
    when the server fails or its answer is not the API's (see :mod:`.probe`).
    """
    if provider.is_replay:
        return (
            "scripted answers, written by hand for the demo's planted faults: no model "
            "is called. For real patches choose a live model in Settings > LLM provider."
        )
    completion = await provider.complete(
        CompletionRequest(
            system="You are a connectivity check. Answer with one word.",
            prompt="Reply with the word: ok",
            max_tokens=16,
            timeout=timeout,
        )
    )
    if not completion.text.strip() and not completion.truncated:
        raise ProviderNotAPI(
            f"{provider.name} answered with an empty message: the model produced no text",
            provider=provider.name,
        )
    if completion.usage_known:
        tokens = f"{completion.input_tokens:,} in, {completion.output_tokens:,} out tokens"
    else:
        tokens = "tokens unknown: the server did not report them"
    if completion.cost_usd is None:
        cost = "cost unknown"
    elif completion.cost_usd == 0.0:
        cost = "no charge"
    else:
        cost = f"${completion.cost_usd:.6f}"
    note = " (the answer was cut off, but the connection works)" if completion.truncated else ""
    context = await _context_note(provider)
    said = short(completion.text, 40)
    return (
        f"{provider.name} {completion.model} answered {said!r} in "
        f"{completion.latency_s:.2f} s ({tokens}, {cost}){note}{context}"
    )


async def _context_note(provider: Provider) -> str:
    ask = getattr(provider, "context_length", None)
    if ask is None:
        return ""
    found = await ask()
    return "; context not reported" if found is None else f"; context {found:,} tokens"


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

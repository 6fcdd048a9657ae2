"""From ``[codegen]`` settings to a provider (the replay transcript is the default).

The API key comes from the environment variable first (``api_key_env``, else
``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``; ``CHIMERA_LOCAL_API_KEY`` for the
optional key of an Ollama or OpenAI-compatible server), then from the
:class:`~chimera_engine.security.secretstore.SecretStore` of the data directory
(the OS keyring, else the encrypted key file). Never from the settings file.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from chimera_engine.config import CodegenSettings
from chimera_engine.patches.providers.base import Provider
from chimera_engine.patches.providers.factory import (
    ALIASES,
    KeyringGet,
    build_provider,
    keyring_get,
)
from chimera_engine.patches.providers.retry import RetryPolicy
from chimera_engine.security.secretstore import SecretStore

#: The environment variable read for a local server's (optional) key when none is named.
LOCAL_KEY_ENV = "CHIMERA_LOCAL_API_KEY"


def default_transcript() -> Path:
    """The scripted answers shipped for the demo workspace (written by hand, not by a model)."""
    return Path(str(resources.files("chimera_engine.demo").joinpath("transcripts/demo.json")))


def provider_from_settings(
    settings: CodegenSettings,
    *,
    data_dir: Path | None = None,
    keys: SecretStore | None = None,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> Provider:
    """Build the configured provider; ConfigError / ProviderAuthError say what to fix.

    ``keys`` (or the store of ``data_dir``) is asked for the key when the
    environment has none. ``api_key``, when given, is used instead of both (the
    settings dialog tests a key before it is saved). May block briefly on the OS
    keyring: call it from a worker thread when that matters.
    """
    transcript: str | Path | None = None
    kind = ALIASES.get(settings.provider, settings.provider)
    if kind == "replay":
        transcript = settings.transcript or default_transcript()
    key_env = settings.api_key_env or (LOCAL_KEY_ENV if kind in ("ollama", "local") else None)
    if keys is None and data_dir is not None:
        keys = SecretStore(data_dir)
    lookup: KeyringGet = keys.lookup if keys is not None else keyring_get
    if api_key:
        environ, lookup = {}, _fixed(api_key)
    return build_provider(
        kind,
        model=settings.model or None,
        base_url=settings.base_url or None,
        api_key_env=key_env,
        transcript=transcript,
        retry=retry,
        environ=environ,
        keyring=lookup,
    )


def _fixed(key: str) -> KeyringGet:
    return lambda service, username: key

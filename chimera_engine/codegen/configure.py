"""From ``[codegen]`` settings to a provider (the replay transcript is the default)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from chimera_engine.codegen.providers.base import Provider
from chimera_engine.codegen.providers.factory import build_provider
from chimera_engine.config import CodegenSettings


def default_transcript() -> Path:
    """The recorded answers shipped for the demo workspace."""
    return Path(str(resources.files("chimera_engine.demo").joinpath("transcripts/demo.json")))


def provider_from_settings(settings: CodegenSettings) -> Provider:
    """Build the configured provider; ConfigError / ProviderAuthError say what to fix."""
    transcript: str | Path | None = None
    if settings.provider == "replay":
        transcript = settings.transcript or default_transcript()
    return build_provider(
        settings.provider,
        model=settings.model or None,
        base_url=settings.base_url or None,
        api_key_env=settings.api_key_env or None,
        transcript=transcript,
    )

"""GeneratorSlot: the engine's code generator, built on first use for the provider in
force, replaced when the provider changes, its provider closed when it is retired."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from chimera_engine.config import Settings
from chimera_engine.patches.generator import CodeGenerator, GenerationPolicy
from chimera_engine.patches.provider_failures import close_after
from chimera_engine.patches.providers.base import Provider
from chimera_engine.patches.store import PatternStore


class GeneratorSlot:
    def __init__(
        self,
        settings: Callable[[], Settings],
        patterns: Callable[[], PatternStore],
        spawn: Callable[[Coroutine[Any, Any, Any], str], object],
        provider: Provider | None = None,
    ) -> None:
        self._settings = settings
        self._patterns = patterns
        self._spawn = spawn
        self._provider = provider  # given by the caller: never closed here
        self._policy: GenerationPolicy | None = None
        self._generator: CodeGenerator | None = None

    @property
    def built(self) -> CodeGenerator | None:
        """The generator in use, if one has been built since the provider last changed."""
        return self._generator

    def use(self, provider: Provider | None, policy: GenerationPolicy | None = None) -> None:
        """Answer with ``provider`` from now on (None: the settings'), limits from ``policy``."""
        self._retire("close-provider")
        self._provider = provider
        self._policy = policy

    def retire(self) -> None:
        """Drop the generator so the next request builds one for the settings now in
        force; the old provider is closed once a request still using it has had time to end."""
        self._retire("retire-provider")

    def _retire(self, name: str) -> None:
        old, self._generator = self._generator, None
        if old is not None and old.provider is not self._provider:  # the slot built it
            grace = old.policy.timeout * old.policy.max_attempts  # a request may still use it
            self._spawn(close_after(old.provider, grace), name)

    def get(self) -> CodeGenerator:
        """The code generator for the configured provider (built on first use)."""
        if self._generator is None:
            cg = self._settings().codegen
            provider = self._provider
            if provider is None:
                from chimera_engine.patches.configure import provider_from_settings

                provider = provider_from_settings(cg, data_dir=self._settings().data_dir)
            self._generator = CodeGenerator(
                provider,
                self._patterns(),
                self._policy
                or GenerationPolicy(
                    max_attempts=cg.max_attempts,
                    max_cost_usd=cg.max_cost_usd,
                    max_tokens=cg.max_tokens,
                    timeout=cg.request_timeout,
                    context_tokens=cg.context_tokens or None,
                ),
            )
        return self._generator

    async def aclose(self) -> None:
        """Close the provider this slot built (a given one stays open)."""
        old, self._generator = self._generator, None
        if old is not None and old.provider is not self._provider:
            with contextlib.suppress(Exception):
                await old.provider.aclose()

"""The Settings dialog's client: read, save, provider keys and a provider connection test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.clients import CurrentPrincipal
from chimera_engine.facade import EngineFacade
from chimera_engine.settings.service import (
    ConnectionReport,
    ProviderKeyStatus,
    SettingsChange,
    SettingsView,
)


class SettingsClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    async def get_settings(self) -> SettingsView:
        return await self._facade.settings.get_settings(self._principal())

    async def update_settings(self, changes: Mapping[str, Mapping[str, Any]]) -> SettingsChange:
        """Validate, save and apply ``{section: {key: value}}`` (admins only)."""
        return await self._facade.settings.update_settings(self._principal(), changes)

    async def set_provider_key(self, kind: str, key: str) -> ProviderKeyStatus:
        return await self._facade.settings.set_provider_key(self._principal(), kind, key)

    async def clear_provider_key(self, kind: str) -> ProviderKeyStatus:
        return await self._facade.settings.clear_provider_key(self._principal(), kind)

    async def test_provider(
        self, codegen: Mapping[str, Any], api_key: str | None = None, timeout: float = 15.0
    ) -> ConnectionReport:
        """One short request through the provider ``codegen`` describes (up to ``timeout`` s)."""
        return await self._facade.settings.test_provider(
            self._principal(), codegen, api_key=api_key, timeout=timeout
        )

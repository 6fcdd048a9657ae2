"""Settings actions: read, save, provider keys and a provider connection test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.actions.base import Acting
from chimera_engine.security.principal import Principal
from chimera_engine.settings.service import (
    ConnectionReport,
    ProviderKeyStatus,
    SettingsChange,
    SettingsView,
)

if TYPE_CHECKING:
    from app.bridge import EngineBridge


class SettingsActions(Acting):
    async def get_settings(self) -> SettingsView:
        return await self.facade.settings.get_settings(self.principal)

    async def update_settings(self, changes: Mapping[str, Mapping[str, Any]]) -> SettingsChange:
        """Validate, save and apply ``{section: {key: value}}`` (admins only)."""
        return await self.facade.settings.update_settings(self.principal, changes)

    async def set_provider_key(self, kind: str, key: str) -> ProviderKeyStatus:
        return await self.facade.settings.set_provider_key(self.principal, kind, key)

    async def clear_provider_key(self, kind: str) -> ProviderKeyStatus:
        return await self.facade.settings.clear_provider_key(self.principal, kind)

    async def test_provider(
        self, codegen: Mapping[str, Any], api_key: str | None = None, timeout: float = 15.0
    ) -> ConnectionReport:
        """One short request through the provider ``codegen`` describes (up to ``timeout`` s)."""
        return await self.facade.settings.test_provider(
            self.principal, codegen, api_key=api_key, timeout=timeout
        )


class BridgeSettings(SettingsActions):
    """The settings actions acting as the bridge's signed-in user.

    Run its coroutines through :meth:`app.bridge.EngineBridge.run`, like every
    other engine operation of the GUI.
    """

    def __init__(self, bridge: EngineBridge) -> None:
        self._bridge = bridge
        self.node = bridge.node

    @property
    def principal(self) -> Principal:
        return self._bridge.principal

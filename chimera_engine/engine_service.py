"""EngineService: the engine's own health, as the Overview shows it."""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.config import Settings
from chimera_engine.node_status import NodeStatus
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.redact import hide_paths


class EngineService:
    """Needs the status snapshot, the settings (for the paths hidden from non-admins)
    and the guard."""

    def __init__(
        self,
        guard: Guard,
        status: Callable[[], NodeStatus],
        settings: Callable[[], Settings],
    ) -> None:
        self._guard = guard
        self._status = status
        self._settings = settings

    async def status(self, principal: Principal) -> NodeStatus:
        """A health snapshot; the install's directories only for administrators."""
        await self._guard.allow(principal, Permission.ENGINE_STATUS)
        status = self._status()
        if principal.role is Role.ADMIN:
            return status
        settings = self._settings()
        return hide_paths(status, settings.data_dir, settings.workspace_path)

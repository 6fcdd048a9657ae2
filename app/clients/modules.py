"""The Modules panel's client: versions, sources, diffs, reloads, deleted files."""

from __future__ import annotations

from app.clients import CurrentPrincipal
from chimera_engine.facade import EngineFacade
from chimera_engine.modules.models import ReloadResult
from chimera_engine.modules.service import VersionInfo


class ModulesClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    async def list_modules(self) -> dict[str, list[VersionInfo]]:
        """Every module with its whole version history, oldest version first."""
        return await self._facade.modules.list_modules(self._principal())

    async def version_source(self, module: str, version: int) -> str:
        return await self._facade.modules.version_source(self._principal(), module, version)

    async def diff_versions(self, module: str, old: int, new: int) -> str:
        """A unified diff from ``old`` to ``new`` (computed off the loop by the engine)."""
        return await self._facade.modules.diff_versions(self._principal(), module, old, new)

    async def reload_module(self, module: str, *, force: bool = False) -> ReloadResult:
        """Reload ``module`` from its file; ``force`` accepts a changed tool signature."""
        return await self._facade.modules.reload_module(self._principal(), module, force=force)

    async def activate_version(self, module: str, version: int) -> ReloadResult:
        return await self._facade.modules.activate_version(self._principal(), module, version)

    async def rollback_module(self, module: str) -> ReloadResult:
        return await self._facade.modules.rollback_module(self._principal(), module)

    async def set_version_state(self, module: str, version: int, state: str) -> VersionInfo:
        """``state`` is ``deprecated``, ``retired`` or ``inactive``."""
        return await self._facade.modules.set_version_state(
            self._principal(), module, version, state
        )

    async def pending_deletions(self) -> list[str]:
        """Modules whose file is gone while their version still serves."""
        return await self._facade.modules.pending_deletions(self._principal())

    async def decide_deletion(self, module: str, action: str) -> str:
        """``remove`` the module or ``restore`` its file from the serving version."""
        return await self._facade.modules.decide_deletion(self._principal(), module, action)

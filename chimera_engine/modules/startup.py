"""Start-up: bring back the persisted active versions, then load what changed on disk.

A mixin of :class:`~chimera_engine.modules.manager.HotReloadManager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chimera_engine.audit.log import AuditLog
from chimera_engine.modules.deletions import Deletion
from chimera_engine.modules.loader import content_hash, workspace_imports
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.security.principal import Principal
from chimera_engine.workspace import Workspace


class Startup:
    workspace: Workspace
    registry: VersionedToolRegistry
    _audit: AuditLog
    startup_problems: list[str]

    if TYPE_CHECKING:

        async def _activate_existing(
            self, mv: ModuleVersion, principal: Principal, *, audit: bool = True
        ) -> ReloadResult: ...

        async def reload_module(
            self,
            module: str,
            *,
            source: str | None = None,
            origin: Origin = Origin.MANUAL,
            principal: Principal,
            force: bool = False,
            parent: int | None = None,
        ) -> ReloadResult: ...

        async def _file_deleted(self, module: str, principal: Principal) -> Deletion | None: ...

        async def _file_back(self, module: str, principal: Principal) -> None: ...

    def _read(self, name: str) -> str | None:
        try:
            return self.workspace.read_source(name)
        except (OSError, UnicodeDecodeError) as exc:
            self.startup_problems.append(f"{name}: cannot read source: {exc}")
            return None

    def _dependency_order(self, names: list[str], sources: dict[str, str | None]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str, stack: tuple[str, ...]) -> None:
            if name in seen or name in stack:
                return
            source = sources.get(name) or self._stored_source(name) or ""
            for dep in sorted(workspace_imports(source, self.workspace.package)):
                if dep in names:
                    visit(dep, (*stack, name))
            seen.add(name)
            order.append(name)

        for name in names:
            visit(name, ())
        return order

    def _stored_source(self, name: str) -> str | None:
        active = self.registry.persisted_active(name)
        return active.source if active else None

    async def _restore(self, name: str, file_source: str | None) -> None:
        """Bring back the persisted active version; load the file if it is new."""
        persisted = self.registry.persisted_active(name)
        system = Principal.system("startup")
        if persisted is not None:
            result = await self._activate_existing(persisted, system, audit=False)
            if not result.ok:
                self.startup_problems.append(f"{persisted.label}: {result.reason}")
                fallback = self.registry.previous_good(name, persisted.version)
                persisted.state = VersionState.FAILED
                persisted.error = result.reason
                await self.registry.persist(persisted)
                if fallback is not None:
                    fb = await self._activate_existing(fallback, system, audit=False)
                    await self._audit.record(
                        system,
                        "tool.fallback",
                        target=name,
                        outcome="ok" if fb.ok else "error",
                        failed_version=persisted.version,
                        fallback_version=fallback.version,
                        reason=result.reason,
                    )
        if file_source is None:
            if name in self.registry.active and name not in self.workspace.discover():
                await self._file_deleted(name, system)
            return
        # a file equal to a version that loaded once is not news (an operator may have
        # activated another); one equal to a refused version is tried again
        digest = content_hash(file_source)
        known = {
            mv.content_hash
            for mv in self.registry.versions(name)
            if mv.state is not VersionState.FAILED
        }
        if name in self.registry.active and digest in known:
            await self._file_back(name, system)
            return
        origin = Origin.FILE_CHANGE if persisted is not None else Origin.INITIAL
        result = await self.reload_module(name, source=file_source, origin=origin, principal=system)
        await self._file_back(name, system)
        if not result.ok:
            self.startup_problems.append(f"{name}: {result.reason}")

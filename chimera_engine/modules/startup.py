"""Start-up: bring back the persisted active versions, then load what changed on disk."""

from __future__ import annotations

from chimera_engine.audit.log import AuditLog
from chimera_engine.modules.deletions import DeletionControl
from chimera_engine.modules.loader import content_hash, workspace_imports
from chimera_engine.modules.models import Origin, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.modules.versions import Reloader, VersionControl
from chimera_engine.security.principal import Principal
from chimera_engine.workspace import Workspace


def dependency_order(
    registry: VersionedToolRegistry,
    package: str,
    names: list[str],
    sources: dict[str, str | None],
) -> list[str]:
    """``names`` with every module after the workspace modules it imports (a module
    without a source in ``sources`` is read from its persisted active version)."""
    order: list[str] = []
    seen: set[str] = set()

    def stored_source(name: str) -> str | None:
        active = registry.persisted_active(name)
        return active.source if active else None

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in seen or name in stack:
            return
        source = sources.get(name) or stored_source(name) or ""
        for dep in sorted(workspace_imports(source, package)):
            if dep in names:
                visit(dep, (*stack, name))
        seen.add(name)
        order.append(name)

    for name in names:
        visit(name, ())
    return order


class Startup:
    def __init__(
        self,
        workspace: Workspace,
        registry: VersionedToolRegistry,
        audit: AuditLog,
        versions: VersionControl,
        deletions: DeletionControl,
        reload: Reloader,
        problems: list[str],
    ) -> None:
        self._workspace = workspace
        self._registry = registry
        self._audit = audit
        self._versions = versions
        self._deletions = deletions
        self._reload = reload
        #: what went wrong at start, for the operator (shared with the manager)
        self._problems = problems

    def read(self, name: str) -> str | None:
        try:
            return self._workspace.read_source(name)
        except (OSError, UnicodeDecodeError) as exc:
            self._problems.append(f"{name}: cannot read source: {exc}")
            return None

    def order(self, names: list[str], sources: dict[str, str | None]) -> list[str]:
        return dependency_order(self._registry, self._workspace.package, names, sources)

    async def restore(self, name: str, file_source: str | None) -> None:
        """Bring back the persisted active version; load the file if it is new."""
        persisted = self._registry.persisted_active(name)
        system = Principal.system("startup")
        if persisted is not None:
            result = await self._versions.activate_existing(persisted, system, audit=False)
            if not result.ok:
                self._problems.append(f"{persisted.label}: {result.reason}")
                fallback = self._registry.previous_good(name, persisted.version)
                persisted.state = VersionState.FAILED
                persisted.error = result.reason
                await self._registry.persist(persisted)
                if fallback is not None:
                    fb = await self._versions.activate_existing(fallback, system, audit=False)
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
            if name in self._registry.active and name not in self._workspace.discover():
                await self._deletions.file_deleted(name, system)
            return
        # a file equal to a version that loaded once is not news (an operator may have
        # activated another); one equal to a refused version is tried again
        digest = content_hash(file_source)
        known = {
            mv.content_hash
            for mv in self._registry.versions(name)
            if mv.state is not VersionState.FAILED
        }
        if name in self._registry.active and digest in known:
            await self._deletions.file_back(name, system)
            return
        origin = Origin.FILE_CHANGE if persisted is not None else Origin.INITIAL
        result = await self._reload(name, source=file_source, origin=origin, principal=system)
        await self._deletions.file_back(name, system)
        if not result.ok:
            self._problems.append(f"{name}: {result.reason}")

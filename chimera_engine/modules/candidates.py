"""New versions of a module, the refused ones kept in the history, and dependants.

What every kind of reload (one module, a change set) does with a candidate
version before it is switched: number it, record why it was refused, and find
the serving modules that import it and must be rebuilt with it.
"""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.events import EventBus, VersionChanged
from chimera_engine.modules.loader import workspace_imports
from chimera_engine.modules.models import ModuleVersion, Origin, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry


class Candidates:
    def __init__(
        self, registry: VersionedToolRegistry, bus: EventBus, clock: Callable[[], float]
    ) -> None:
        self._registry = registry
        self._bus = bus
        self._clock = clock

    def new(
        self, module: str, source: str, digest: str, origin: Origin, parent: int | None
    ) -> ModuleVersion:
        return ModuleVersion(
            module=module,
            version=self._registry.next_version(module),
            content_hash=digest,
            source=source,
            created_at=self._clock(),
            origin=origin,
            state=VersionState.INACTIVE,
            parent=parent,
        )

    async def record_failure(self, candidate: ModuleVersion, reason: str) -> None:
        """Keep a refused version in the history (with why), never in memory."""
        candidate.state = VersionState.FAILED
        candidate.error = reason
        candidate.loaded = None
        candidate.tools = {}
        self._registry.add(candidate)
        await self._registry.persist(candidate)
        self._bus.publish(
            VersionChanged(
                module=candidate.module, version=candidate.version, state="failed", detail=reason
            )
        )

    def dependants(self, module: str) -> list[ModuleVersion]:
        """The serving versions of the other modules that import ``module``."""
        package = self._registry.package
        return [
            mv
            for name, mv in sorted(self._registry.active.items())
            if name != module and module in workspace_imports(mv.source, package)
        ]

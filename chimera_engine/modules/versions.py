"""Switching between existing versions: activate, roll back, deprecate, retire.

Rolling back loads the earlier source as a new version, through the reload the
manager hands in.
"""

from __future__ import annotations

import time
from typing import Protocol

from chimera_engine.audit.log import AuditLog
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import EventBus, VersionChanged
from chimera_engine.modules.engine_import import EngineImporter
from chimera_engine.modules.loader import LoadError
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.security.principal import Principal
from chimera_engine.workspace import validate_module_name


class Reloader(Protocol):
    """Loads a source as a new version of a module and switches to it."""

    async def __call__(
        self,
        module: str,
        *,
        source: str | None = None,
        origin: Origin = Origin.MANUAL,
        principal: Principal,
        force: bool = False,
        parent: int | None = None,
    ) -> ReloadResult: ...


class VersionControl:
    """Operations on versions that already exist in the registry."""

    def __init__(
        self,
        registry: VersionedToolRegistry,
        bus: EventBus,
        audit: AuditLog,
        importer: EngineImporter,
        reload: Reloader,
    ) -> None:
        self._registry = registry
        self._bus = bus
        self._audit = audit
        self._importer = importer
        self._reload = reload

    # -- version management ------------------------------------------------------------------
    async def activate_existing(
        self, mv: ModuleVersion, principal: Principal, *, audit: bool = True
    ) -> ReloadResult:
        started = time.perf_counter()
        previous = self._registry.active.get(mv.module)
        if mv.state is VersionState.RETIRED:
            return ReloadResult(
                module=mv.module,
                ok=False,
                version=mv.version,
                stage="state",
                reason=f"{mv.label} is retired and cannot be activated",
            )
        if mv is previous:
            return ReloadResult(
                module=mv.module, ok=True, version=mv.version, previous=mv.version, unchanged=True
            )
        try:
            if mv.loaded is None:
                await self._importer.load(mv)
            conflict = self._registry.conflicting_tool(mv)
            if conflict:
                raise LoadError("tools", conflict)
        except LoadError as exc:
            mv.loaded = None
            return ReloadResult(
                module=mv.module,
                ok=False,
                version=mv.version,
                previous=previous.version if previous else None,
                stage=exc.stage,
                reason=str(exc),
            )
        replaced = self._registry.switch([mv])
        await self._registry.persist(mv, *replaced)
        self._bus.publish(VersionChanged(module=mv.module, version=mv.version, state="active"))
        result = ReloadResult(
            module=mv.module,
            ok=True,
            version=mv.version,
            previous=previous.version if previous else None,
            origin=Origin.RESTORE,
            duration_ms=(time.perf_counter() - started) * 1e3,
        )
        if audit:
            await self._audit.record(
                principal,
                "tool.activate",
                target=mv.module,
                version=mv.version,
                previous=result.previous,
            )
        return result

    async def activate(self, module: str, version: int, principal: Principal) -> ReloadResult:
        """Make an existing version active again (loading it into a fresh module)."""
        async with self._importer.lock:
            mv = self._registry.get(validate_module_name(module), version)
            result = await self.activate_existing(mv, principal)
        if not result.ok:
            await self._audit.record(
                principal,
                "tool.activate",
                target=module,
                outcome="error",
                version=version,
                reason=result.reason,
            )
        return result

    async def rollback(self, module: str, principal: Principal) -> ReloadResult:
        """Go back to the previous good version, recorded as a new version (origin rollback)."""
        current = self._registry.active.get(validate_module_name(module))
        if current is None:
            raise NotFoundError(f"module {module!r} has no active version")
        target = self._registry.previous_good(
            module, current.version, other_than=current.content_hash
        )
        if target is None:
            raise ValidationError(f"{current.label} has no earlier good version to roll back to")
        return await self._reload(
            module,
            source=target.source,
            origin=Origin.ROLLBACK,
            principal=principal,
            force=True,
            parent=target.version,
        )

    async def set_state(
        self, module: str, version: int, state: VersionState, principal: Principal
    ) -> ModuleVersion:
        """Deprecate (still callable by explicit version) or retire (never callable) a version."""
        if state not in (VersionState.DEPRECATED, VersionState.RETIRED, VersionState.INACTIVE):
            raise ValidationError(f"cannot set a version to {state.value}")
        async with self._importer.lock:
            mv = self._registry.get(validate_module_name(module), version)
            if self._registry.active.get(module) is mv:
                raise ValidationError(f"{mv.label} is active; activate another version first")
            if mv.state is VersionState.FAILED:
                raise ValidationError(f"{mv.label} failed to load; it cannot change state")
            if mv.state is VersionState.RETIRED:
                raise ValidationError(f"{mv.label} is retired; retirement is final")
            if state is VersionState.DEPRECATED and mv.loaded is None:
                try:
                    await self._importer.load(mv)  # deprecated versions stay callable by number
                except LoadError as exc:
                    raise ValidationError(f"{mv.label} cannot be loaded: {exc}") from None
            mv.state = state
            mv.draining = False  # an operator's choice outlasts the automatic deprecation
            if state is not VersionState.DEPRECATED:
                self._registry.release_if_drained(mv)
            await self._registry.persist(mv)
        self._bus.publish(VersionChanged(module=module, version=version, state=state.value))
        action = {
            VersionState.DEPRECATED: "tool.deprecate",
            VersionState.RETIRED: "tool.retire",
            VersionState.INACTIVE: "tool.undeprecate",
        }[state]
        await self._audit.record(principal, action, target=module, version=version)
        return mv

"""The reload of one module as a transaction: read, load, check, rebuild, switch.

The candidate is loaded into a fresh module with the budget the caller set under
the reload lock; its tools are checked (a signature that would break callers is
refused unless forced), the serving modules that import it are rebuilt with it,
state is carried over, and then all of them switch in one step. Any failure
leaves the serving versions untouched and says why.
"""

from __future__ import annotations

import asyncio

from chimera_engine.events import EventBus, VersionChanged
from chimera_engine.modules.candidates import Candidates
from chimera_engine.modules.changeset import check_compatible
from chimera_engine.modules.engine_import import EngineImporter
from chimera_engine.modules.loader import LoadError, content_hash, export_state, import_state
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.workspace import Workspace


class ReloadTransaction:
    """Runs under the reload lock, which its caller holds."""

    def __init__(
        self,
        workspace: Workspace,
        registry: VersionedToolRegistry,
        importer: EngineImporter,
        candidates: Candidates,
        bus: EventBus,
    ) -> None:
        self._workspace = workspace
        self._registry = registry
        self._importer = importer
        self._candidates = candidates
        self._bus = bus

    async def run(
        self,
        module: str,
        source: str | None,
        origin: Origin,
        force: bool,
        parent: int | None,
    ) -> ReloadResult:
        previous = self._registry.active.get(module)
        prev_no = previous.version if previous else None
        if source is None:
            try:
                source = await asyncio.get_running_loop().run_in_executor(
                    None, self._workspace.read_source, module
                )
            except FileNotFoundError:
                return ReloadResult(
                    module=module,
                    ok=False,
                    previous=prev_no,
                    origin=origin,
                    stage="read",
                    reason=f"{self._workspace.module_path(module)} does not exist",
                )
            except (OSError, UnicodeDecodeError) as exc:
                return ReloadResult(
                    module=module,
                    ok=False,
                    previous=prev_no,
                    origin=origin,
                    stage="read",
                    reason=f"cannot read the source: {exc}",
                )
        digest = content_hash(source)
        if (
            previous is not None
            and previous.content_hash == digest
            and origin in (Origin.FILE_CHANGE, Origin.MANUAL, Origin.INITIAL)
        ):
            return ReloadResult(
                module=module,
                ok=True,
                version=prev_no,
                previous=prev_no,
                origin=origin,
                unchanged=True,
            )
        candidate = self._candidates.new(module, source, digest, origin, parent)
        try:
            batch = await self._build(candidate, previous, force)
        except LoadError as exc:
            await self._candidates.record_failure(candidate, str(exc))
            return ReloadResult(
                module=module,
                ok=False,
                version=candidate.version,
                previous=prev_no,
                origin=origin,
                stage=exc.stage,
                reason=str(exc),
            )
        return await self._commit(batch, previous, origin)

    async def _build(
        self, candidate: ModuleVersion, previous: ModuleVersion | None, force: bool
    ) -> list[ModuleVersion]:
        """Load the candidate and rebuild its dependants; nothing is switched yet."""
        await self._importer.load(candidate)
        conflict = self._registry.conflicting_tool(candidate)
        if conflict:
            raise LoadError("tools", conflict)
        if previous is not None and not force:
            check_compatible(previous, candidate)
        batch = [candidate]
        for dependant in self._candidates.dependants(candidate.module):
            rebuilt = self._candidates.new(
                dependant.module,
                dependant.source,
                dependant.content_hash,
                Origin.DEPENDENCY,
                dependant.version,
            )
            try:
                await self._importer.load(rebuilt, {candidate.module: candidate})
            except LoadError as exc:
                raise LoadError(
                    exc.stage, f"dependant module {dependant.module!r} fails with it: {exc}"
                ) from None
            batch.append(rebuilt)
        return batch

    async def _commit(
        self, batch: list[ModuleVersion], previous: ModuleVersion | None, origin: Origin
    ) -> ReloadResult:
        candidate = batch[0]
        try:
            for mv in batch:
                old = self._registry.active.get(mv.module)
                if old is not None and old.loaded is not None and mv.loaded is not None:
                    state, state_version = export_state(old.loaded)
                    if state is not None:
                        import_state(mv.loaded, state, state_version)
        except LoadError as exc:
            await self._candidates.record_failure(candidate, str(exc))
            return ReloadResult(
                module=candidate.module,
                ok=False,
                version=candidate.version,
                previous=previous.version if previous else None,
                origin=origin,
                stage=exc.stage,
                reason=str(exc),
            )
        for mv in batch:
            self._registry.add(mv)
        replaced = self._registry.switch(batch)  # atomic for every caller
        await self._registry.persist(*batch, *replaced)
        for mv in batch:
            self._bus.publish(VersionChanged(module=mv.module, version=mv.version, state="active"))
        return ReloadResult(
            module=candidate.module,
            ok=True,
            version=candidate.version,
            previous=previous.version if previous else None,
            origin=origin,
            dependants=tuple(mv.module for mv in batch[1:]),
        )

"""HotReloadManager: loads the workspace, reloads modules, and switches versions.

Every reload is one transaction: import the new source first in a child
process that can be killed (:mod:`~chimera_engine.modules.precheck`, outside the
lock), then load it into a fresh module (in a thread, with a time limit), check
its tools (a signature that would break callers is refused unless forced),
rebuild the workspace modules that import it, carry state over, then switch
all of them in one step. Any failure leaves the serving versions untouched and
says why (event + audit + result). File changes arrive as settled change sets
(:mod:`~chimera_engine.modules.watcher`) and load as one transaction each
(:mod:`~chimera_engine.modules.changeset`). Reloads are serialised by a lock;
calls are never blocked by them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from chimera_engine.audit.log import AuditLog
from chimera_engine.events import EventBus, ModuleReloaded, VersionChanged
from chimera_engine.modules.changeset import ChangeSetResult, ChangeSets, check_compatible
from chimera_engine.modules.deletions import Deletion, DeletionControl, DeletionStore
from chimera_engine.modules.engine_import import EngineImport
from chimera_engine.modules.loader import (
    LoadError,
    content_hash,
    export_state,
    import_state,
    workspace_imports,
)
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.modules.precheck import ImportProber, ProbeLimits
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.modules.startup import Startup
from chimera_engine.modules.suspect import screen
from chimera_engine.modules.versions import VersionControl
from chimera_engine.modules.watcher import ChangeSet, CodeWatcher
from chimera_engine.security.principal import Principal
from chimera_engine.workspace import Workspace, validate_module_name

log = logging.getLogger(__name__)

Spawner = Callable[[Coroutine[Any, Any, Any], str], object]


@dataclass(frozen=True, kw_only=True)
class ReloadStats:
    modules: int
    tools: int
    versions: int
    reloads_ok: int
    reloads_failed: int
    last_reload_ms: float
    median_reload_ms: float
    watching: bool
    draining: int


class HotReloadManager(Startup, VersionControl, ChangeSets, DeletionControl, EngineImport):
    def __init__(
        self,
        workspace: Workspace,
        registry: VersionedToolRegistry,
        bus: EventBus,
        audit: AuditLog,
        *,
        import_timeout: float = 5.0,
        watch: bool = True,
        debounce: float = 0.05,
        new_settle: float = 1.0,
        suspect_settle: float = 1.0,
        max_wait: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.registry = registry
        self._bus = bus
        self._audit = audit
        self.import_timeout = import_timeout
        self._clock = clock
        self._lock = asyncio.Lock()
        self._watch = watch
        self._debounce = debounce
        self._new_settle = new_settle
        self._suspect_settle = suspect_settle
        self._max_wait = max_wait
        self.prober = ImportProber(ProbeLimits(timeout=import_timeout))
        self._held: dict[str, frozenset[str]] = {}
        self._waiting: dict[str, str] = {}
        #: module -> content hash whose import a start-up probe already ran cleanly
        self._probed: dict[str, str] = {}
        #: the time the current transaction's in-engine imports get (set under the lock)
        self._budget: float | None = None
        self.deletion_store = DeletionStore(registry.db, workspace.key)
        self.deletions: list[Deletion] = []
        self.pending_deletions: dict[str, Deletion] = {}
        self.watcher: CodeWatcher | None = None
        self._spawn: Spawner | None = None
        self._durations: list[float] = []
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.startup_problems: list[str] = []
        registry.on_drained = self._drained

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, spawn: Spawner) -> None:
        """Load the workspace (persisted active versions first), then watch it."""
        self._spawn = spawn
        await self.prober.warm_up()
        self.workspace.register_packages()
        await self.registry.load_history()
        await self._load_deletions()
        on_disk = self.workspace.discover()
        names = sorted(set(on_disk) | set(self.registry.modules()))
        sources = {n: self._read(n) for n in on_disk}
        await self._probe_at_start(sources)
        for name in self._dependency_order(names, sources):
            await self._restore(name, sources.get(name))
        self._probed.clear()
        self.startup_problems.extend(self.deletion_notes())
        if self._watch:
            self.watcher = CodeWatcher(
                self.workspace.tools_dir,
                self.workspace.module_for_path,
                self._on_change_set,
                is_known=lambda module: module in self.registry.history,
                settle=self._debounce,
                new_settle=self._new_settle,
                max_wait=self._max_wait,
                screen=lambda modules: screen(self.registry, self.workspace, modules),
                suspect_settle=self._suspect_settle,
            )
            await self.watcher.start()

    async def _probe_at_start(self, sources: dict[str, str | None]) -> None:
        """Probe every file that start-up will load in one child, not one child each."""
        known = {
            name: {mv.content_hash for mv in self.registry.versions(name) if mv.error == ""}
            for name in sources
        }
        new = {
            name: source
            for name, source in sources.items()
            if source is not None and content_hash(source) not in known[name]
        }
        if not new:
            return
        base = {
            name: mv.source
            for name in self.registry.modules()
            if (mv := self.registry.persisted_active(name)) is not None
        }
        verdicts = await self.probe(new, base=base)
        if all(v.ok for v in verdicts.values()):
            self._probed = {name: content_hash(source) for name, source in new.items()}

    async def stop(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None
        await self.prober.close()
        everything = [mv for versions in self.registry.history.values() for mv in versions]
        if everything:
            await self.registry.persist(*everything)
        self.workspace.unregister_packages()

    def _drained(self, mv: ModuleVersion) -> None:
        """A superseded version finished its last call: it is now deprecated."""
        event = VersionChanged(
            module=mv.module, version=mv.version, state="deprecated", detail="drained"
        )
        self._bus.publish(event)
        if self._spawn is not None:
            self._spawn(self.registry.persist(mv), f"persist-{mv.label}")

    # -- file events ----------------------------------------------------------------------------
    def _on_change_set(self, change: ChangeSet) -> None:
        assert self._spawn is not None
        self._spawn(self._apply_files(change), f"changeset-{'-'.join(change.changed)[:60]}")

    async def _apply_files(self, change: ChangeSet) -> ChangeSetResult | None:
        watcher = Principal.system("watcher")
        for module in change.deleted:
            await self._file_deleted(module, watcher)
        if not change.changed:
            return None
        result = await self.apply_change_set(change.changed, principal=watcher)
        if not result.ok:
            log.warning("change set refused: %s", result.reason)
        return result

    # -- reloads --------------------------------------------------------------------------------
    async def reload_module(
        self,
        module: str,
        *,
        source: str | None = None,
        origin: Origin = Origin.MANUAL,
        principal: Principal,
        force: bool = False,
        parent: int | None = None,
    ) -> ReloadResult:
        """Load ``source`` (default: the file) as a new version of ``module`` and switch to it."""
        validate_module_name(module)
        started = time.perf_counter()
        if source is None:
            try:
                source = await asyncio.get_running_loop().run_in_executor(
                    None, self.workspace.read_source, module
                )
            except (OSError, UnicodeDecodeError):
                source = None  # reported with the reason below, under the lock
        active = self.registry.active.get(module)
        fault = None
        budget = None
        probed = source is not None and self._probed.pop(module, None) == content_hash(source)
        if (
            source is not None
            and not probed
            and (active is None or active.content_hash != content_hash(source))
        ):
            # import-time code runs first in a child that can be killed, outside the lock
            fault = (await self.probe({module: source})).get(module)
            if fault is not None and fault.ok:
                budget = self.engine_budget(fault.seconds)
                fault = None
        async with self._locked(budget):
            if fault is not None and source is not None:
                previous = self.registry.active.get(module)
                candidate = self._new_version(module, source, content_hash(source), origin, parent)
                await self._record_failure(candidate, fault.reason)
                result = ReloadResult(
                    module=module,
                    ok=False,
                    version=candidate.version,
                    previous=previous.version if previous else None,
                    origin=origin,
                    stage=fault.stage,
                    reason=fault.reason,
                )
            else:
                result = await self._reload_locked(module, source, origin, principal, force, parent)
            duration = (time.perf_counter() - started) * 1e3
            result = _with_duration(result, duration)
        await self._report(result, principal)
        return result

    async def _reload_locked(
        self,
        module: str,
        source: str | None,
        origin: Origin,
        principal: Principal,
        force: bool,
        parent: int | None,
    ) -> ReloadResult:
        previous = self.registry.active.get(module)
        prev_no = previous.version if previous else None
        if source is None:
            try:
                source = await asyncio.get_running_loop().run_in_executor(
                    None, self.workspace.read_source, module
                )
            except FileNotFoundError:
                return ReloadResult(
                    module=module,
                    ok=False,
                    previous=prev_no,
                    origin=origin,
                    stage="read",
                    reason=f"{self.workspace.module_path(module)} does not exist",
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
        candidate = self._new_version(module, source, digest, origin, parent)
        try:
            batch = await self._build(candidate, previous, force)
        except LoadError as exc:
            await self._record_failure(candidate, str(exc))
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

    async def _record_failure(self, candidate: ModuleVersion, reason: str) -> None:
        """Keep a refused version in the history (with why), never in memory."""
        candidate.state = VersionState.FAILED
        candidate.error = reason
        candidate.loaded = None
        candidate.tools = {}
        self.registry.add(candidate)
        await self.registry.persist(candidate)
        self._bus.publish(
            VersionChanged(
                module=candidate.module, version=candidate.version, state="failed", detail=reason
            )
        )

    def _new_version(
        self, module: str, source: str, digest: str, origin: Origin, parent: int | None
    ) -> ModuleVersion:
        return ModuleVersion(
            module=module,
            version=self.registry.next_version(module),
            content_hash=digest,
            source=source,
            created_at=self._clock(),
            origin=origin,
            state=VersionState.INACTIVE,
            parent=parent,
        )

    async def _build(
        self, candidate: ModuleVersion, previous: ModuleVersion | None, force: bool
    ) -> list[ModuleVersion]:
        """Load the candidate and rebuild its dependants; nothing is switched yet."""
        await self._load(candidate)
        conflict = self.registry.conflicting_tool(candidate)
        if conflict:
            raise LoadError("tools", conflict)
        if previous is not None and not force:
            check_compatible(previous, candidate)
        batch = [candidate]
        for dependant in self._dependants(candidate.module):
            rebuilt = self._new_version(
                dependant.module,
                dependant.source,
                dependant.content_hash,
                Origin.DEPENDENCY,
                dependant.version,
            )
            try:
                await self._load(rebuilt, {candidate.module: candidate})
            except LoadError as exc:
                raise LoadError(
                    exc.stage, f"dependant module {dependant.module!r} fails with it: {exc}"
                ) from None
            batch.append(rebuilt)
        return batch

    def _dependants(self, module: str) -> list[ModuleVersion]:
        package = self.registry.package
        return [
            mv
            for name, mv in sorted(self.registry.active.items())
            if name != module and module in workspace_imports(mv.source, package)
        ]

    async def _commit(
        self, batch: list[ModuleVersion], previous: ModuleVersion | None, origin: Origin
    ) -> ReloadResult:
        candidate = batch[0]
        try:
            for mv in batch:
                old = self.registry.active.get(mv.module)
                if old is not None and old.loaded is not None and mv.loaded is not None:
                    state, state_version = export_state(old.loaded)
                    if state is not None:
                        import_state(mv.loaded, state, state_version)
        except LoadError as exc:
            await self._record_failure(candidate, str(exc))
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
            self.registry.add(mv)
        replaced = self.registry.switch(batch)  # atomic for every caller
        await self.registry.persist(*batch, *replaced)
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

    async def _report(self, result: ReloadResult, principal: Principal) -> None:
        if result.unchanged:
            return
        if result.ok:
            self.reloads_ok += 1
            self._durations.append(result.duration_ms)
            del self._durations[:-200]
        else:
            self.reloads_failed += 1
            log.warning("reload of %s refused: %s", result.module, result.reason)
        self._bus.publish(ModuleReloaded(result=result))
        await self._audit.record(
            principal,
            "tool.reload",
            target=result.module,
            outcome="ok" if result.ok else "error",
            version=result.version,
            previous=result.previous,
            origin=result.origin.value,
            duration_ms=round(result.duration_ms, 2),
            stage=result.stage,
            reason=result.reason,
            dependants=list(result.dependants),
        )

    def stats(self) -> ReloadStats:
        durations = sorted(self._durations)
        return ReloadStats(
            modules=len(self.registry.active),
            tools=len(self.registry.active_tools()),
            versions=sum(len(v) for v in self.registry.history.values()),
            reloads_ok=self.reloads_ok,
            reloads_failed=self.reloads_failed,
            last_reload_ms=self._durations[-1] if self._durations else 0.0,
            median_reload_ms=durations[len(durations) // 2] if durations else 0.0,
            watching=self.watcher is not None,
            draining=sum(
                1
                for versions in self.registry.history.values()
                for mv in versions
                if mv.in_flight and self.registry.active.get(mv.module) is not mv
            ),
        )


def _with_duration(result: ReloadResult, duration_ms: float) -> ReloadResult:
    from dataclasses import replace

    return replace(result, duration_ms=duration_ms)

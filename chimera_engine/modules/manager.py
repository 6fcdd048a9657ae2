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
from chimera_engine.events import EventBus, VersionChanged
from chimera_engine.modules.candidates import Candidates
from chimera_engine.modules.changeset import ChangeSetResult, ChangeSets
from chimera_engine.modules.deletions import Deletion, DeletionControl, DeletionStore
from chimera_engine.modules.engine_import import EngineImporter
from chimera_engine.modules.loader import content_hash
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.modules.precheck import ImportProber, ProbeLimits, ProbeResult
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.modules.reports import ReloadReporter
from chimera_engine.modules.startup import Startup
from chimera_engine.modules.suspect import screen
from chimera_engine.modules.transaction import ReloadTransaction
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


class HotReloadManager:
    """Wires the reload parts together; runs the start, the watcher and one module's reload.

    The parts, each handed only what it uses: :class:`EngineImporter` (in-engine
    imports, the reload lock and its budget), :class:`Candidates` (new and refused
    versions, dependants), :class:`ReloadReporter` (counts, events, audit),
    :class:`ReloadTransaction` (one module's load, check and switch),
    :class:`DeletionControl` (deleted files), :class:`VersionControl` (existing
    versions), :class:`ChangeSets` (file change sets) and :class:`Startup`.
    """

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
        self._watch = watch
        self._debounce = debounce
        self._new_settle = new_settle
        self._suspect_settle = suspect_settle
        self._max_wait = max_wait
        self.prober = ImportProber(ProbeLimits(timeout=import_timeout))
        self.importer = EngineImporter(workspace, registry, import_timeout=import_timeout)
        self.candidates = Candidates(registry, bus, clock)
        self.reporter = ReloadReporter(bus, audit)
        self.deletion_control = DeletionControl(
            workspace,
            registry,
            bus,
            audit,
            self.importer.lock,
            DeletionStore(registry.db, workspace.key),
        )
        self.transaction = ReloadTransaction(
            workspace, registry, self.importer, self.candidates, bus
        )
        self.versions = VersionControl(registry, bus, audit, self.importer, self.reload_module)
        self.changes = ChangeSets(
            workspace,
            registry,
            self.prober,
            self.importer,
            self.candidates,
            self.reporter,
            self.deletion_control,
            bus,
            audit,
        )
        self.startup_problems: list[str] = []
        self.startup = Startup(
            workspace,
            registry,
            audit,
            self.versions,
            self.deletion_control,
            self.reload_module,
            self.startup_problems,
        )
        #: module -> content hash whose import a start-up probe already ran cleanly
        self._probed: dict[str, str] = {}
        self.watcher: CodeWatcher | None = None
        self._spawn: Spawner | None = None
        registry.on_drained = self._drained

    # -- the parts' operations, under the manager's names -------------------------------------
    @property
    def import_timeout(self) -> float:
        return self.importer.import_timeout

    @import_timeout.setter
    def import_timeout(self, seconds: float) -> None:
        self.importer.import_timeout = seconds

    @property
    def reloads_ok(self) -> int:
        return self.reporter.reloads_ok

    @property
    def reloads_failed(self) -> int:
        return self.reporter.reloads_failed

    @property
    def pending_deletions(self) -> dict[str, Deletion]:
        return self.deletion_control.pending

    async def probe(
        self, items: dict[str, str], *, base: dict[str, str] | None = None
    ) -> dict[str, ProbeResult]:
        return await self.changes.probe(items, base=base)

    async def activate(self, module: str, version: int, principal: Principal) -> ReloadResult:
        return await self.versions.activate(module, version, principal)

    async def rollback(self, module: str, principal: Principal) -> ReloadResult:
        return await self.versions.rollback(module, principal)

    async def set_state(
        self, module: str, version: int, state: VersionState, principal: Principal
    ) -> ModuleVersion:
        return await self.versions.set_state(module, version, state, principal)

    async def decide_deletion(self, module: str, action: str, principal: Principal) -> Deletion:
        return await self.deletion_control.decide(module, action, principal)

    def deletion_notes(self) -> list[str]:
        return self.deletion_control.notes()

    def describe_deletions(self, module: str) -> list[dict[str, Any]]:
        return self.deletion_control.describe(module)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, spawn: Spawner) -> None:
        """Load the workspace (persisted active versions first), then watch it."""
        self._spawn = spawn
        await self.prober.warm_up()
        self.workspace.register_packages()
        await self.registry.load_history()
        await self.deletion_control.load()
        on_disk = self.workspace.discover()
        names = sorted(set(on_disk) | set(self.registry.modules()))
        sources = {n: self.startup.read(n) for n in on_disk}
        await self._probe_at_start(sources)
        for name in self.startup.order(names, sources):
            await self.startup.restore(name, sources.get(name))
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
            await self.deletion_control.file_deleted(module, watcher)
        if not change.changed:
            return None
        result = await self.changes.apply_change_set(change.changed, principal=watcher)
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
        digest = content_hash(source) if source is not None else ""
        probed = source is not None and self._probed.pop(module, None) == digest
        if source is not None and not probed and (active is None or active.content_hash != digest):
            # import-time code runs first in a child that can be killed, outside the lock
            fault = (await self.probe({module: source})).get(module)
            if fault is not None and fault.ok:
                budget = self.importer.engine_budget(fault.seconds)
                fault = None
        async with self.importer.locked(budget):
            if fault is not None and source is not None:
                previous = self.registry.active.get(module)
                candidate = self.candidates.new(module, source, digest, origin, parent)
                await self.candidates.record_failure(candidate, fault.reason)
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
                result = await self.transaction.run(module, source, origin, force, parent)
            duration = (time.perf_counter() - started) * 1e3
            result = _with_duration(result, duration)
        await self.reporter.report(result, principal)
        return result

    def stats(self) -> ReloadStats:
        durations = sorted(self.reporter.durations)
        return ReloadStats(
            modules=len(self.registry.active),
            tools=len(self.registry.active_tools()),
            versions=sum(len(v) for v in self.registry.history.values()),
            reloads_ok=self.reporter.reloads_ok,
            reloads_failed=self.reporter.reloads_failed,
            last_reload_ms=self.reporter.durations[-1] if self.reporter.durations else 0.0,
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

"""HotReloadManager: loads the workspace, reloads modules, and switches versions.

Every reload is one transaction: load the new source into a fresh module (in
a thread, with a time limit), check its tools (a signature that would break
callers is refused unless forced), rebuild the workspace modules that import
it, carry state over, then switch all of them in one step. Any failure leaves
the serving versions untouched and says why (event + audit + result).
Reloads are serialised by a lock; calls are never blocked by them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from chimera_engine.events import EventBus, ModuleFileDeleted, ModuleReloaded, VersionChanged
from chimera_engine.reload.loader import (
    LoadError,
    content_hash,
    export_state,
    import_state,
    load_module,
    run_in_thread,
    workspace_imports,
)
from chimera_engine.reload.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.reload.registry import VersionedToolRegistry
from chimera_engine.reload.versions import VersionControl
from chimera_engine.reload.watcher import CodeWatcher
from chimera_engine.security.audit import AuditLog
from chimera_engine.security.principal import Principal
from chimera_engine.tooling import incompatibility
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


class HotReloadManager(VersionControl):
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
        self.workspace.register_packages()
        await self.registry.load_history()
        on_disk = self.workspace.discover()
        names = sorted(set(on_disk) | set(self.registry.modules()))
        sources = {n: self._read(n) for n in on_disk}
        for name in self._dependency_order(names, sources):
            await self._restore(name, sources.get(name))
        if self._watch:
            self.watcher = CodeWatcher(
                self.workspace.tools_dir,
                self.workspace.module_for_path,
                self._on_file_event,
                debounce=self._debounce,
            )
            await self.watcher.start()

    async def stop(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None
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
            if persisted is not None and name not in self.workspace.discover():
                self._bus.publish(ModuleFileDeleted(module=name, version=persisted.version))
            return
        known = {mv.content_hash for mv in self.registry.versions(name)}
        if content_hash(file_source) in known and name in self.registry.active:
            return
        origin = Origin.FILE_CHANGE if persisted is not None else Origin.INITIAL
        result = await self.reload_module(name, source=file_source, origin=origin, principal=system)
        if not result.ok:
            self.startup_problems.append(f"{name}: {result.reason}")

    # -- file events ----------------------------------------------------------------------------
    def _on_file_event(self, module: str, kind: str) -> None:
        assert self._spawn is not None
        if kind == "deleted":
            active = self.registry.active.get(module)
            self._bus.publish(
                ModuleFileDeleted(module=module, version=active.version if active else None)
            )
            self._spawn(
                self._audit.record(
                    Principal.system("watcher"),
                    "tool.file_deleted",
                    target=module,
                    outcome="error",
                    serving_version=active.version if active else None,
                ),
                f"audit-delete-{module}",
            )
            return
        self._spawn(
            self.reload_module(
                module, origin=Origin.FILE_CHANGE, principal=Principal.system("watcher")
            ),
            f"reload-{module}",
        )

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
        async with self._lock:
            started = time.perf_counter()
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

    async def _load(
        self, mv: ModuleVersion, overrides: dict[str, ModuleVersion] | None = None
    ) -> None:
        package = self.registry.package
        replaced = {
            f"{package}.{name}": v.loaded
            for name, v in (overrides or {}).items()
            if v.loaded is not None
        }
        loaded = await run_in_thread(
            lambda: load_module(
                mv.source,
                qualified_name=f"{package}.{mv.module}",
                package=package,
                filename=str(self.workspace.module_path(mv.module)),
                module=mv.module,
                version=mv.version,
                overrides=replaced,
            ),
            self.import_timeout,
            mv.label,
        )
        mv.loaded = loaded.module
        mv.tools = loaded.tools
        mv.tool_info = [tv.describe() for tv in loaded.tools.values()]

    async def _build(
        self, candidate: ModuleVersion, previous: ModuleVersion | None, force: bool
    ) -> list[ModuleVersion]:
        """Load the candidate and rebuild its dependants; nothing is switched yet."""
        await self._load(candidate)
        conflict = self.registry.conflicting_tool(candidate)
        if conflict:
            raise LoadError("tools", conflict)
        if previous is not None and not force:
            _check_compatible(previous, candidate)
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


def _check_compatible(previous: ModuleVersion, candidate: ModuleVersion) -> None:
    for name, old in previous.tools.items():
        new = candidate.tools.get(name)
        if new is None:
            raise LoadError("signature", f"tool {name!r} was removed (callers depend on it)")
        problem = incompatibility(old.signature, new.signature)
        if problem:
            raise LoadError("signature", f"tool {name!r} changed its signature: {problem}")


def _with_duration(result: ReloadResult, duration_ms: float) -> ReloadResult:
    from dataclasses import replace

    return replace(result, duration_ms=duration_ms)

"""A change set: every module a burst of file changes touched, switched as one.

A ``git checkout``, a rebase or a formatter changes many files at once; loading
them one by one would serve a mix of old and new modules and refuse a module
whose new sibling has not been loaded yet. A change set is probed (each new
version's import in a child process, all at once, outside the reload lock),
then loaded in dependency order (each module sees the set's new siblings), and
switched in one step with the dependants it rebuilds: every module of the set
switches, or none does and the result says why.

A set that is refused is *held*: its modules join the next set that touches any
of them, and a module that asked for a sibling which does not exist yet is
retried when that sibling appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chimera_engine.audit.log import AuditLog
from chimera_engine.events import EventBus, VersionChanged
from chimera_engine.modules.candidates import Candidates
from chimera_engine.modules.deletions import DeletionControl
from chimera_engine.modules.engine_import import EngineImporter
from chimera_engine.modules.loader import LoadError, content_hash, export_state, import_state
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult
from chimera_engine.modules.precheck import ImportProber, ProbeResult
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.modules.reports import ReloadReporter
from chimera_engine.modules.startup import dependency_order
from chimera_engine.security.principal import Principal
from chimera_engine.tooling import incompatibility
from chimera_engine.workspace import Workspace


def check_compatible(previous: ModuleVersion, candidate: ModuleVersion) -> None:
    """:class:`LoadError` if ``candidate`` drops or breaks a tool that callers use."""
    for name, old in previous.tools.items():
        new = candidate.tools.get(name)
        if new is None:
            raise LoadError("signature", f"tool {name!r} was removed (callers depend on it)")
        problem = incompatibility(old.signature, new.signature)
        if problem:
            raise LoadError("signature", f"tool {name!r} changed its signature: {problem}")


@dataclass(frozen=True, kw_only=True)
class ChangeSetResult:
    ok: bool
    #: (module, version) switched together, dependants included.
    switched: tuple[tuple[str, int], ...] = ()
    #: Modules that were part of the set but unchanged.
    unchanged: tuple[str, ...] = ()
    #: Why the set was refused: the modules at fault and their reasons.
    refused: tuple[tuple[str, str], ...] = ()
    #: Modules waiting for a sibling module that does not exist yet.
    waiting: tuple[tuple[str, str], ...] = ()
    duration_ms: float = 0.0

    @property
    def reason(self) -> str:
        return "; ".join(f"{m}: {r}" for m, r in self.refused)


class ChangeSets:
    """Loads change sets; holds the refused sets and the modules waiting for a sibling."""

    def __init__(
        self,
        workspace: Workspace,
        registry: VersionedToolRegistry,
        prober: ImportProber,
        importer: EngineImporter,
        candidates: Candidates,
        reporter: ReloadReporter,
        deletions: DeletionControl,
        bus: EventBus,
        audit: AuditLog,
    ) -> None:
        self._workspace = workspace
        self._registry = registry
        self._prober = prober
        self._importer = importer
        self._candidates = candidates
        self._reporter = reporter
        self._deletions = deletions
        self._bus = bus
        self._audit = audit
        #: module -> the modules of the refused set it belongs to
        self.held: dict[str, frozenset[str]] = {}
        #: module -> the sibling it imports that does not exist yet
        self.waiting: dict[str, str] = {}

    async def probe(
        self, items: dict[str, str], *, base: dict[str, str] | None = None
    ) -> dict[str, ProbeResult]:
        """Import the new sources in one child process, in dependency order, each seeing
        the serving versions (or ``base``) overlaid with ``items``. Only a module at
        fault is ``not ok``."""
        serving = {n: mv.source for n, mv in self._registry.active.items()}
        siblings = (serving if base is None else base) | items
        order = dependency_order(
            self._registry, self._workspace.package, sorted(items), dict(items)
        )
        result = await self._prober.probe(
            package=self._registry.package,
            directory=str(self._workspace.tools_dir),
            modules=order,
            sources=siblings,
            timeout=self._importer.import_timeout,
        )
        if result.ok:
            return dict.fromkeys(items, result)
        culprit = result.module if result.module in items else order[0]
        return {culprit: result}

    def _order(self, items: dict[str, str]) -> list[str]:
        return dependency_order(
            self._registry, self._workspace.package, sorted(items), dict[str, str | None](items)
        )

    def _joined(self, names: Iterable[str]) -> set[str]:
        """``names`` plus the held modules they bring back (same refused set, or
        waiting for one of them)."""
        wanted = set(names)
        for module, group in list(self.held.items()):
            if group & wanted or self.waiting.get(module) in wanted:
                wanted |= group
        return wanted

    async def _read_set(self, names: Iterable[str]) -> dict[str, str]:
        """The sources of ``names`` that can be read (a gone file is left out), read in
        one trip off the event loop."""
        ordered = sorted(names)

        def read() -> dict[str, str]:
            sources: dict[str, str] = {}
            for name in ordered:
                with contextlib.suppress(OSError, UnicodeDecodeError):  # gone: left out
                    sources[name] = self._workspace.read_source(name)
            return sources

        return await asyncio.get_running_loop().run_in_executor(None, read)

    async def apply_change_set(
        self, changed: Iterable[str], *, principal: Principal, force: bool = False
    ) -> ChangeSetResult:
        """Load every module in ``changed`` (from its file) as one transaction."""
        started = time.perf_counter()
        names = self._joined(changed)
        sources = await self._read_set(names)
        for name in sources:
            await self._deletions.file_back(name, principal)
        items = {
            name: source
            for name, source in sources.items()
            if (active := self._registry.active.get(name)) is None
            or active.content_hash != content_hash(source)
        }
        unchanged = tuple(sorted(set(sources) - set(items)))
        for name in unchanged:
            self.held.pop(name, None)
            self.waiting.pop(name, None)
        if not items:
            return ChangeSetResult(ok=True, unchanged=unchanged)
        verdicts = await self.probe(items)
        faults = {name: r for name, r in verdicts.items() if not r.ok}
        if faults:
            result = await self._refuse(items, faults, principal, started)
        else:
            budget = self._importer.engine_budget(max(r.seconds for r in verdicts.values()))
            async with self._importer.locked(budget):
                result = await self._load_and_switch(items, principal, force, started)
        return result

    async def _refuse(
        self,
        items: dict[str, str],
        faults: Mapping[str, ProbeResult | LoadError],
        principal: Principal,
        started: float,
        candidates: dict[str, ModuleVersion] | None = None,
    ) -> ChangeSetResult:
        group = frozenset(items)
        refused: list[tuple[str, str]] = []
        waiting: list[tuple[str, str]] = []
        recorded: dict[str, ModuleVersion] = {}
        for name in sorted(group):
            self.held[name] = group
        for name, fault in sorted(faults.items()):
            reason = str(fault) if isinstance(fault, LoadError) else fault.reason
            refused.append((name, reason))
            missing = getattr(fault, "missing", "")
            if missing and missing not in items and missing not in self._registry.active:
                self.waiting[name] = missing
                waiting.append((name, missing))
            candidate = (candidates or {}).get(name) or self._candidates.new(
                name, items[name], content_hash(items[name]), Origin.FILE_CHANGE, None
            )
            await self._candidates.record_failure(candidate, reason)
            recorded[name] = candidate
        duration = (time.perf_counter() - started) * 1e3
        result = ChangeSetResult(
            ok=False, refused=tuple(refused), waiting=tuple(waiting), duration_ms=duration
        )
        why = "change set refused: " + result.reason
        for name in sorted(group):
            active = self._registry.active.get(name)
            own = next((r for m, r in refused if m == name), "")
            failed = recorded.get(name)
            await self._reporter.report(
                ReloadResult(
                    module=name,
                    ok=False,
                    version=failed.version if failed else None,
                    previous=active.version if active else None,
                    origin=Origin.FILE_CHANGE,
                    stage=faults[name].stage if name in faults else "changeset",
                    reason=own or why,
                    duration_ms=duration,
                ),
                principal,
            )
        if len(group) > 1:
            await self._audit.record(
                principal,
                "tool.changeset",
                target=",".join(sorted(group)),
                outcome="error",
                modules=sorted(group),
                refused=[list(r) for r in refused],
                waiting=[list(w) for w in waiting],
                duration_ms=round(duration, 2),
            )
        return result

    def _set_conflict(self, batch: list[ModuleVersion]) -> str:
        mine = {mv.module for mv in batch}
        owners = {
            tool: tv.module
            for tool, tv in self._registry.active_tools().items()
            if tv.module not in mine
        }
        for mv in batch:
            for tool in mv.tools:
                if tool in owners and owners[tool] != mv.module:
                    return f"tool {tool!r} is also provided by module {owners[tool]!r}"
                owners[tool] = mv.module
        return ""

    async def _load_and_switch(
        self, items: dict[str, str], principal: Principal, force: bool, started: float
    ) -> ChangeSetResult:
        order = dependency_order(
            self._registry, self._workspace.package, sorted(items), dict(items)
        )
        built: dict[str, ModuleVersion] = {}
        current: ModuleVersion | None = None
        try:
            for name in order:
                current = self._candidates.new(
                    name, items[name], content_hash(items[name]), Origin.FILE_CHANGE, None
                )
                await self._importer.load(current, built)
                previous = self._registry.active.get(name)
                if previous is not None and not force:
                    check_compatible(previous, current)
                built[name] = current
            batch = list(built.values())
            seen = set(built)
            for name in order:
                for dependant in self._candidates.dependants(name):
                    if dependant.module in seen:
                        continue
                    seen.add(dependant.module)
                    current = self._candidates.new(
                        dependant.module,
                        dependant.source,
                        dependant.content_hash,
                        Origin.DEPENDENCY,
                        dependant.version,
                    )
                    await self._importer.load(current, built)
                    batch.append(current)
            conflict = self._set_conflict(batch)
            if conflict:
                raise LoadError("tools", conflict)
            for mv in batch:
                old = self._registry.active.get(mv.module)
                if old is not None and old.loaded is not None and mv.loaded is not None:
                    state, state_version = export_state(old.loaded)
                    if state is not None:
                        import_state(mv.loaded, state, state_version)
        except LoadError as exc:
            at = current.module if current is not None else order[0]
            cands = {at: current} if current is not None and current.module in items else {}
            return await self._refuse(items, {at: exc}, principal, started, cands)
        for mv in batch:
            self._registry.add(mv)
        replaced = self._registry.switch(batch)  # one step for every caller
        await self._registry.persist(*batch, *replaced)
        for name in built:
            self.held.pop(name, None)
            self.waiting.pop(name, None)
        duration = (time.perf_counter() - started) * 1e3
        return await self._switched(batch, replaced, principal, duration)

    async def _switched(
        self,
        batch: list[ModuleVersion],
        replaced: list[ModuleVersion],
        principal: Principal,
        duration: float,
    ) -> ChangeSetResult:
        before = {mv.module: mv.version for mv in replaced}
        for mv in batch:
            self._bus.publish(VersionChanged(module=mv.module, version=mv.version, state="active"))
        for mv in batch:
            await self._reporter.report(
                ReloadResult(
                    module=mv.module,
                    ok=True,
                    version=mv.version,
                    previous=before.get(mv.module),
                    origin=mv.origin,
                    duration_ms=duration,
                ),
                principal,
            )
        switched = tuple((mv.module, mv.version) for mv in batch)
        if len(batch) > 1:
            await self._audit.record(
                principal,
                "tool.changeset",
                target=",".join(m for m, _ in switched),
                outcome="ok",
                switched=[list(s) for s in switched],
                duration_ms=round(duration, 2),
            )
        return ChangeSetResult(ok=True, switched=switched, duration_ms=duration)

"""VersionedToolRegistry: every version of every tool module, one active per module.

The active pointer is a single dict assignment, so a switch is atomic for
every caller on the loop. Superseded versions stay loaded (state
``inactive``) while calls are still running on them; when the last one
finishes they are released and marked ``deprecated`` (still in the history,
callable again by explicit version once loaded by an operator).
History (source included) is persisted so the console can show it after a
restart and the same versions come back.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.modules.models import ModuleVersion, Origin, ToolVersion, VersionState
from chimera_engine.store.db import Database

_COLUMNS = (
    "module, version, content_hash, source, created_at, origin, state, error, parent, tools, "
    "calls, errors, verdict, activated_at"
)


def _from_row(row: tuple[Any, ...]) -> ModuleVersion:
    return ModuleVersion(
        module=row[0],
        version=row[1],
        content_hash=row[2],
        source=row[3],
        created_at=row[4],
        origin=Origin(row[5]),
        state=VersionState(row[6]),
        error=row[7],
        parent=row[8],
        tool_info=json.loads(row[9]),
        calls=row[10],
        errors=row[11],
        verdict=row[12],
        activated_at=row[13],
    )


class VersionedToolRegistry:
    def __init__(
        self,
        db: Database,
        workspace_key: str,
        package: str,
        *,
        trust_after: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.db = db
        #: A version replaced sooner than this (seconds live) never served well.
        self.trust_after = trust_after
        self._clock = clock
        self._workspace = workspace_key
        self.package = package
        self.history: dict[str, list[ModuleVersion]] = {}
        self.active: dict[str, ModuleVersion] = {}
        self._tools: dict[str, ToolVersion] = {}
        self.switches = 0
        #: Called when a superseded version drains after its switch (not during it).
        self.on_drained: Callable[[ModuleVersion], None] | None = None

    # -- reading ---------------------------------------------------------------------------
    async def load_history(self) -> None:
        def q(conn: sqlite3.Connection) -> list[ModuleVersion]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM module_versions WHERE workspace = ? "
                "ORDER BY module, version",
                (self._workspace,),
            )
            return [_from_row(r) for r in rows]

        self.history = {}
        for mv in await self._db.read(q):
            self.history.setdefault(mv.module, []).append(mv)

    def modules(self) -> list[str]:
        return sorted(self.history)

    def versions(self, module: str) -> list[ModuleVersion]:
        return list(self.history.get(module, []))

    def get(self, module: str, version: int) -> ModuleVersion:
        for mv in self.history.get(module, []):
            if mv.version == version:
                return mv
        raise NotFoundError(f"{module} has no version {version}")

    def next_version(self, module: str) -> int:
        versions = self.history.get(module)
        return versions[-1].version + 1 if versions else 1

    def persisted_active(self, module: str) -> ModuleVersion | None:
        for mv in reversed(self.history.get(module, [])):
            if mv.state is VersionState.ACTIVE:
                return mv
        return None

    def previous_good(
        self, module: str, before: int, *, other_than: str = ""
    ) -> ModuleVersion | None:
        """The newest version older than ``before`` that served well and is not retired
        (and, with ``other_than``, whose content differs from that hash)."""
        for mv in reversed(self.history.get(module, [])):
            if mv.version >= before or mv.content_hash == other_than:
                continue
            if mv.served_well and mv.state in (VersionState.INACTIVE, VersionState.DEPRECATED):
                return mv
        return None

    def judge(self, mv: ModuleVersion) -> None:
        """Give a version that stops serving its verdict (see :attr:`ModuleVersion.verdict`)."""
        if mv.activated_at is None:
            return
        live = self._clock() - mv.activated_at
        if mv.errors:
            mv.verdict = f"bad: {mv.errors} failed call(s) of {mv.calls}"
        elif live < self.trust_after:
            mv.verdict = f"unproven: replaced after {live:.2f} s"
        elif not mv.verdict.startswith("bad"):
            mv.verdict = "good"

    def tool_names(self) -> list[str]:
        return sorted(self._tools)

    def active_tools(self) -> dict[str, ToolVersion]:
        return self._tools

    def owner_of(self, tool: str) -> str | None:
        tv = self._tools.get(tool)
        return tv.module if tv else None

    def resolve(self, tool: str, version: int | None = None) -> tuple[ToolVersion, ModuleVersion]:
        """The tool to call: the active one, or an explicit (possibly deprecated) version."""
        active = self._tools.get(tool)
        if version is None:
            if active is None:
                raise NotFoundError(f"no active tool named {tool!r}")
            return active, self.active[active.module]
        module = active.module if active else self._module_declaring(tool)
        mv = self.get(module, version)
        if mv.state is VersionState.RETIRED:
            raise ValidationError(f"{mv.label} is retired and cannot be called")
        if mv.loaded is None or tool not in mv.tools:
            raise ValidationError(f"{tool}@{version} is not loaded; activate it first")
        return mv.tools[tool], mv

    def _module_declaring(self, tool: str) -> str:
        for module, versions in self.history.items():
            if any(t.get("name") == tool for v in versions for t in v.tool_info):
                return module
        raise NotFoundError(f"no tool named {tool!r}")

    # -- changing ----------------------------------------------------------------------------
    def add(self, mv: ModuleVersion) -> None:
        self.history.setdefault(mv.module, []).append(mv)

    def switch(self, versions: list[ModuleVersion]) -> list[ModuleVersion]:
        """Make ``versions`` active at once; returns the versions they replace."""
        replaced: list[ModuleVersion] = []
        tools = dict(self._tools)
        for mv in versions:
            old = self.active.get(mv.module)
            if old is not None and old is not mv:
                for name in old.tools:
                    tools.pop(name, None)
                replaced.append(old)
            tools.update(mv.tools)
        now = self._clock()
        for old in replaced:
            self.judge(old)
        for mv in versions:
            self.active[mv.module] = mv
            if mv.activated_at is None or mv.state is not VersionState.ACTIVE:
                mv.activated_at = now
            mv.state = VersionState.ACTIVE
            mv.draining = False
            if mv.loaded is not None:
                sys.modules[f"{self.package}.{mv.module}"] = mv.loaded
        self._tools = tools  # the atomic switch
        self.switches += 1
        for old in replaced:
            if old.state is VersionState.ACTIVE:
                old.state = VersionState.INACTIVE
                old.draining = True
            self._release(old, notify=False)
        return replaced

    def remove_module(self, module: str) -> ModuleVersion | None:
        """Stop offering ``module`` at all (its file was deleted and an operator agreed);
        its version drains like a replaced one. Returns that version."""
        old = self.active.pop(module, None)
        if old is None:
            return None
        tools = dict(self._tools)
        for name in old.tools:
            tools.pop(name, None)
        self._tools = tools
        self.switches += 1
        sys.modules.pop(f"{self.package}.{module}", None)
        self.judge(old)
        old.state = VersionState.INACTIVE
        old.draining = True
        self._release(old, notify=False)
        return old

    def release_if_drained(self, mv: ModuleVersion) -> bool:
        """Drop a superseded version's module object once no call runs on it; a version
        superseded by a switch is then deprecated (and :attr:`on_drained` told)."""
        return self._release(mv, notify=True)

    def _release(self, mv: ModuleVersion, *, notify: bool) -> bool:
        if mv.in_flight or self.active.get(mv.module) is mv or mv.loaded is None:
            return False
        if mv.state is VersionState.DEPRECATED and not mv.draining:
            return False  # deprecated by hand: still callable by explicit version
        mv.loaded = None
        mv.tools = {}
        if mv.draining:
            mv.draining = False
            if mv.errors and mv.served_well:  # its last calls failed while draining
                mv.verdict = f"bad: {mv.errors} failed call(s) of {mv.calls}"
            if mv.state is VersionState.INACTIVE:
                mv.state = VersionState.DEPRECATED
                if notify and self.on_drained is not None:
                    self.on_drained(mv)
        return True

    def conflicting_tool(self, mv: ModuleVersion) -> str | None:
        for name in mv.tools:
            owner = self.owner_of(name)
            if owner is not None and owner != mv.module:
                return f"tool {name!r} is already provided by module {owner!r}"
        return None

    async def persist(self, *versions: ModuleVersion) -> None:
        rows = [
            (
                self._workspace,
                mv.module,
                mv.version,
                mv.content_hash,
                mv.source,
                mv.created_at,
                mv.origin.value,
                mv.state.value,
                mv.error,
                mv.parent,
                json.dumps(mv.tool_info),
                mv.calls,
                mv.errors,
                mv.verdict,
                mv.activated_at,
            )
            for mv in versions
        ]

        def upsert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT INTO module_versions(workspace, {_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(workspace, module, version) DO UPDATE SET state = excluded.state, "
                "error = excluded.error, tools = excluded.tools, calls = excluded.calls, "
                "errors = excluded.errors, verdict = excluded.verdict, "
                "activated_at = excluded.activated_at",
                rows,
            )

        await self._db.write(upsert)

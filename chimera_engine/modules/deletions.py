"""A deleted module file is an event an operator decides on, not a silent change.

When a module's file disappears, its running version keeps serving from
memory and a *pending* deletion is recorded (and survives a restart: the
engine says at start that it still serves a module whose file is gone). The
operator then either *removes* the module (its tools stop being offered) or
*restores* the file from the serving version.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, replace
from typing import Any

from chimera_engine.audit.log import AuditLog
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import EventBus, ModuleFileDeleted, VersionChanged
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.security.principal import Principal
from chimera_engine.store.db import Database
from chimera_engine.workspace import Workspace, validate_module_name

PENDING, REMOVED, RESTORED = "pending", "removed", "restored"


@dataclass(frozen=True, kw_only=True)
class Deletion:
    module: str
    seen_at: float
    serving_version: int | None
    state: str = PENDING
    decided_by: str = ""
    decided_at: float | None = None


class DeletionStore:
    def __init__(self, db: Database, workspace_key: str) -> None:
        self._db = db
        self._workspace = workspace_key

    async def load(self) -> list[Deletion]:
        def q(conn: sqlite3.Connection) -> list[Deletion]:
            rows = conn.execute(
                "SELECT module, seen_at, serving_version, state, decided_by, decided_at "
                "FROM module_deletions WHERE workspace = ? ORDER BY seen_at",
                (self._workspace,),
            )
            return [
                Deletion(
                    module=r[0],
                    seen_at=r[1],
                    serving_version=r[2],
                    state=r[3],
                    decided_by=r[4],
                    decided_at=r[5],
                )
                for r in rows
            ]

        return await self._db.read(q)

    async def save(self, d: Deletion) -> None:
        row = (self._workspace, d.module, d.seen_at, d.serving_version, d.state)
        extra = (d.decided_by, d.decided_at)

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO module_deletions(workspace, module, seen_at, serving_version, "
                "state, decided_by, decided_at) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT(workspace, module, seen_at) DO UPDATE SET state = excluded.state, "
                "decided_by = excluded.decided_by, decided_at = excluded.decided_at",
                (*row, *extra),
            )

        await self._db.write(upsert)


class DeletionControl:
    """Pending deletions and the operator's decision on them."""

    def __init__(
        self,
        workspace: Workspace,
        registry: VersionedToolRegistry,
        bus: EventBus,
        audit: AuditLog,
        lock: asyncio.Lock,
        store: DeletionStore,
    ) -> None:
        self._workspace = workspace
        self._registry = registry
        self._bus = bus
        self._audit = audit
        self._lock = lock
        self.store = store
        #: Every deletion seen, oldest first (the history); the pending one per module.
        self.deletions: list[Deletion] = []
        self.pending: dict[str, Deletion] = {}

    async def load(self) -> None:
        self.deletions = await self.store.load()
        self.pending = {d.module: d for d in self.deletions if d.state == PENDING}

    async def file_deleted(self, module: str, principal: Principal) -> Deletion | None:
        """Record that ``module``'s file is gone (once); its version keeps serving."""
        if module in self.pending:
            return self.pending[module]
        active = self._registry.active.get(module)
        if active is None:
            return None
        deletion = Deletion(module=module, seen_at=time.time(), serving_version=active.version)
        self.deletions.append(deletion)
        self.pending[module] = deletion
        await self.store.save(deletion)
        self._bus.publish(ModuleFileDeleted(module=module, version=active.version))
        await self._audit.record(
            principal,
            "tool.file_deleted",
            target=module,
            outcome="error",
            serving_version=active.version,
        )
        return deletion

    async def file_back(self, module: str, principal: Principal) -> None:
        """The file of a pending deletion reappeared: the deletion is over."""
        if module in self.pending:
            await self._settle(module, RESTORED, principal)

    async def _settle(self, module: str, state: str, principal: Principal) -> Deletion:
        old = self.pending.pop(module)
        done = replace(old, state=state, decided_by=principal.actor, decided_at=time.time())
        self.deletions[self.deletions.index(old)] = done
        await self.store.save(done)
        return done

    async def decide(self, module: str, action: str, principal: Principal) -> Deletion:
        """``remove`` the module (its tools stop being offered) or ``restore`` its file
        from the serving version. Only for a module whose deletion is pending."""
        validate_module_name(module)
        if action not in ("remove", "restore"):
            raise ValidationError(f"unknown decision {action!r}: use remove or restore")
        if module not in self.pending:
            raise NotFoundError(f"{module} has no pending deletion")
        async with self._lock:
            active = self._registry.active.get(module)
            if action == "restore":
                if active is None:
                    raise ValidationError(f"{module} serves no version to restore the file from")
                path = self._workspace.module_path(module)
                if path.exists():
                    raise ValidationError(f"{path} exists again; nothing to restore")
                await asyncio.get_running_loop().run_in_executor(
                    None, self._workspace.write_source, module, active.source
                )
                done = await self._settle(module, RESTORED, principal)
            else:
                removed = self._registry.remove_module(module)
                if removed is not None:
                    await self._registry.persist(removed)
                done = await self._settle(module, REMOVED, principal)
        self._bus.publish(
            VersionChanged(
                module=module,
                version=done.serving_version or 0,
                state="removed" if action == "remove" else "active",
                detail=f"file {'deleted: module removed' if action == 'remove' else 'restored'}",
            )
        )
        await self._audit.record(
            principal, f"tool.{action}", target=module, version=done.serving_version
        )
        return done

    def notes(self) -> list[str]:
        return [
            f"{d.module}.py was deleted; v{d.serving_version} keeps serving until an operator "
            "removes the module or restores its file"
            for d in self.pending.values()
        ]

    def describe(self, module: str) -> list[dict[str, Any]]:
        return [
            {
                "seen_at": d.seen_at,
                "serving_version": d.serving_version,
                "state": d.state,
                "decided_by": d.decided_by,
                "decided_at": d.decided_at,
            }
            for d in self.deletions
            if d.module == module
        ]

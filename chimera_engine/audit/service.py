"""AuditService: reading and verifying the tamper-evident audit log."""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.audit.log import AuditLog, AuditVerification
from chimera_engine.audit.store import AuditQuery
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.redact import hide_attempted_names
from chimera_engine.store.records import AuditEntry


class AuditService:
    """Needs the audit log (a getter: it is opened when the engine starts) and the guard."""

    def __init__(self, guard: Guard, log: Callable[[], AuditLog]) -> None:
        self._guard = guard
        self._log = log

    async def query(self, principal: Principal, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching ``query``; names tried at a failed sign-in are hidden from
        everyone but administrators."""
        await self._guard.allow(principal, Permission.AUDIT_READ)
        entries = await self._log().query(query)
        if principal.role is Role.ADMIN:
            return entries
        return [hide_attempted_names(e) for e in entries]

    async def verify(self, principal: Principal) -> AuditVerification:
        """Check the hash chain; the check itself is audited with its result."""
        await self._guard.allow(principal, Permission.AUDIT_VERIFY)
        result = await self._log().verify()
        await self._guard.record(
            principal,
            "audit.verify",
            outcome="ok" if result.ok else "error",
            checked=result.checked,
            first_bad_seq=result.first_bad_seq,
            reason=result.reason,
        )
        return result

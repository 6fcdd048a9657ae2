"""Audit-log actions: query the log, verify its hash chain."""

from __future__ import annotations

from app.actions.base import Acting
from chimera_engine.security.audit import AuditVerification
from chimera_engine.store.audit import AuditQuery
from chimera_engine.store.records import AuditEntry


class AuditActions(Acting):
    async def audit_query(self, query: AuditQuery) -> list[AuditEntry]:
        return await self.facade.audit.query(self.principal, query)

    async def audit_verify(self) -> AuditVerification:
        return await self.facade.audit.verify(self.principal)

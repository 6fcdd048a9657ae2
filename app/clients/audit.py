"""The Audit panel's client: query the log, verify its hash chain."""

from __future__ import annotations

from app.clients import CurrentPrincipal
from chimera_engine.audit.log import AuditVerification
from chimera_engine.audit.store import AuditQuery
from chimera_engine.facade import EngineFacade
from chimera_engine.store.records import AuditEntry


class AuditClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._facade.audit.query(self._principal(), query)

    async def verify(self) -> AuditVerification:
        """Check the whole hash chain (the check itself is audited)."""
        return await self._facade.audit.verify(self._principal())

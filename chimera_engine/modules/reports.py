"""The outcome of every reload: counted, timed, published and audited."""

from __future__ import annotations

import logging

from chimera_engine.audit.log import AuditLog
from chimera_engine.events import EventBus, ModuleReloaded
from chimera_engine.modules.models import ReloadResult
from chimera_engine.security.principal import Principal

log = logging.getLogger(__name__)


class ReloadReporter:
    def __init__(self, bus: EventBus, audit: AuditLog) -> None:
        self._bus = bus
        self._audit = audit
        self.reloads_ok = 0
        self.reloads_failed = 0
        #: the durations of the last successful reloads, in ms, oldest first
        self.durations: list[float] = []

    async def report(self, result: ReloadResult, principal: Principal) -> None:
        if result.unchanged:
            return
        if result.ok:
            self.reloads_ok += 1
            self.durations.append(result.duration_ms)
            del self.durations[:-200]
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

"""The Overview panel's client: everything the panel shows, read through the facade as
the signed-in user.

One :meth:`OverviewClient.read` call makes a handful of facade reads (tools, metrics,
anomalies, waiting patches, swarm, audit) and shapes them with
:mod:`app.shared.overview`. A read the user's role does not allow turns into a
section saying so; a swarm that is off turns into a section saying why. Cost:
a few milliseconds with a small workspace (SQLite reads off the loop thread).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.clients import CurrentPrincipal
from app.shared import overview as ov
from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import ChimeraError, PermissionDeniedError
from chimera_engine.facade import EngineFacade
from chimera_engine.metrics.hub import MetricInfo, StoredAnomaly
from chimera_engine.metrics.live import LiveMetrics
from chimera_engine.patches.models import PatchState

T = TypeVar("T")

#: Open anomalies read per refresh (the newest).
ANOMALY_LIMIT = 50
#: Failed generation attempts are counted over this many seconds.
FAILED_WINDOW_S = 24 * 3600.0
#: Audit entries read per refresh (the newest), of which people's are shown.
AUDIT_READ = 200


async def _read(call: Callable[[], Awaitable[T]]) -> T | PermissionDeniedError:
    try:
        return await call()
    except PermissionDeniedError as exc:
        return exc


class OverviewClient:
    def __init__(
        self, facade: EngineFacade, principal: CurrentPrincipal, live: LiveMetrics
    ) -> None:
        self._facade = facade
        self._principal = principal
        self._live = live

    async def read(self) -> ov.Overview:
        """Every section of the Overview, read now."""
        principal = self._principal()
        sections: dict[str, ov.Section] = {}

        modules = await _read(lambda: self._facade.modules.list_modules(principal))
        tools = await _read(lambda: self._facade.modules.list_tools(principal))
        metrics = await _read(lambda: self._facade.metrics.list_metrics(principal))
        if isinstance(modules, PermissionDeniedError) or isinstance(tools, PermissionDeniedError):
            why = str(modules if isinstance(modules, PermissionDeniedError) else tools)
            sections[ov.TOOLS] = ov.denied(ov.TOOLS, why)
            sections[ov.RELOADS] = ov.denied(ov.RELOADS, why)
        else:
            known: list[MetricInfo] = [] if isinstance(metrics, PermissionDeniedError) else metrics
            recent = None
            if not isinstance(metrics, PermissionDeniedError):
                # Imported here: numpy, kept out of the console's start-up.
                from app.shared.metric_source import MetricSource
                from app.shared.tool_health import recent_health

                source = MetricSource(self._live)
                names = {t.name for t in tools}
                recent = recent_health(source.window, source.thresholds, names, time.time())
            sections[ov.TOOLS] = ov.tool_section(
                tools, modules, ov.confidences(known), recent=recent
            )
            deleted = await self._facade.modules.pending_deletions(principal)
            sections[ov.RELOADS] = ov.reload_section(modules, deleted)

        anomalies = await _read(
            lambda: self._facade.metrics.list_anomalies(principal, limit=ANOMALY_LIMIT)
        )
        if isinstance(anomalies, PermissionDeniedError):
            sections[ov.ANOMALIES] = ov.denied(ov.ANOMALIES, str(anomalies))
        else:
            found: list[StoredAnomaly] = anomalies
            # Predictions are read where the Dashboard reads them (needs metrics.read);
            # imported here: it pulls in numpy, kept out of the console's start-up.
            from app.shared.metric_source import MetricSource

            predictions = (
                MetricSource(self._live).predictions() if MetricSource.allowed(principal) else []
            )
            sections[ov.ANOMALIES] = ov.anomaly_section(found, predictions, time.time())

        waiting = await _read(
            lambda: self._facade.patches.list_patches(principal, states=(PatchState.READY,))
        )
        if isinstance(waiting, PermissionDeniedError):
            sections[ov.PATCHES] = ov.denied(ov.PATCHES, str(waiting))
        else:
            since = time.time() - FAILED_WINDOW_S
            failed = [
                a
                for a in await self._facade.patches.list_attempts(
                    principal, failed_only=True, limit=100
                )
                if a.ts >= since
            ]
            sections[ov.PATCHES] = ov.patch_section(waiting, failed)

        try:
            stats = await self._facade.swarm.status(principal)
            agents = await self._facade.swarm.agents(principal)
            sections[ov.AGENTS] = ov.agent_section(stats, agents)
        except PermissionDeniedError as exc:
            sections[ov.AGENTS] = ov.denied(ov.AGENTS, str(exc))
        except ChimeraError as exc:  # the swarm is off (disabled, or its backend is down)
            reason = str(exc).removeprefix("the swarm is not running: ")
            sections[ov.AGENTS] = ov.agent_section(None, [], off=reason)

        # Read more than shown: the engine's own (system:) entries are left out there.
        entries = await _read(
            lambda: self._facade.audit.query(principal, AuditQuery(limit=AUDIT_READ))
        )
        sections[ov.AUDIT] = (
            ov.denied(ov.AUDIT, str(entries))
            if isinstance(entries, PermissionDeniedError)
            else ov.audit_section(entries)
        )
        order = (ov.TOOLS, ov.ANOMALIES, ov.PATCHES, ov.AGENTS, ov.RELOADS, ov.AUDIT)
        return ov.Overview(sections={name: sections[name] for name in order}, read_at=time.time())

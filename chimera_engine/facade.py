"""The authorised facade: the one door through which the console, the CLI and the
HTTP API act on the engine.

It only holds one service per feature (``facade.modules``, ``facade.patches``, ...).
Every service method takes the acting :class:`Principal`, checks a named permission
(refusals are audited) and audits every state change at the service's edge.
Commands return what changed so callers can decide what to redraw.
"""

from __future__ import annotations

from dataclasses import dataclass

from chimera_engine.audit.service import AuditService
from chimera_engine.demo.service import DemoService
from chimera_engine.engine_service import EngineService
from chimera_engine.heal.service import HealService
from chimera_engine.intent.service import IntentService
from chimera_engine.metrics.service import MetricsService
from chimera_engine.modules.service import ModulesService
from chimera_engine.patches.service import PatchesService
from chimera_engine.security.admin_service import AdminService
from chimera_engine.security.sessions_service import SessionsService
from chimera_engine.settings.service import SettingsService
from chimera_engine.swarm.service import SwarmService


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineFacade:
    """The feature services, built by :class:`~chimera_engine.node.HeartNode`."""

    modules: ModulesService
    patches: PatchesService
    metrics: MetricsService
    swarm: SwarmService
    audit: AuditService
    admin: AdminService
    sessions: SessionsService
    settings: SettingsService
    engine: EngineService
    heal: HealService
    intent: IntentService
    demo: DemoService

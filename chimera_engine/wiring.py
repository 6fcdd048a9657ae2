"""How :class:`~chimera_engine.node.HeartNode` hands each feature service, and the API,
the narrow parts it needs.

The parts built when the engine starts (the security state, the reload manager, the
review queue, the swarm, ...) are handed as getters, so a service built with the node
reaches them once they exist and raises the node's "not started" error before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chimera_engine.api.context import ApiDeps
from chimera_engine.audit.service import AuditService
from chimera_engine.config import Settings
from chimera_engine.demo.service import DemoService
from chimera_engine.engine_service import EngineService
from chimera_engine.events import EventBus
from chimera_engine.facade import EngineFacade
from chimera_engine.heal.service import HealService
from chimera_engine.intent.service import IntentService
from chimera_engine.metrics.service import MetricsService
from chimera_engine.modules.service import ModulesService
from chimera_engine.patches.service import PatchesService
from chimera_engine.security.admin_service import AdminService
from chimera_engine.security.guard import Guard
from chimera_engine.security.sessions_service import SessionsService
from chimera_engine.settings.service import SettingsService
from chimera_engine.swarm.service import SwarmService

if TYPE_CHECKING:
    from chimera_engine.demo.runner import DemoRunner
    from chimera_engine.heal.engine import MetacognitiveEngine
    from chimera_engine.metrics.collectors import ToolCallCollector
    from chimera_engine.metrics.exporter import EngineMetrics
    from chimera_engine.metrics.exposition import Exposition
    from chimera_engine.metrics.hub import MetricsHub
    from chimera_engine.modules.manager import HotReloadManager
    from chimera_engine.node_status import NodeStatus
    from chimera_engine.patches.generator import CodeGenerator
    from chimera_engine.patches.review import ReviewQueue
    from chimera_engine.runtime import ToolRuntime
    from chimera_engine.security.manager import SecurityManager
    from chimera_engine.swarm.coordinator import SwarmCoordinator


class Parts(Protocol):
    """What the wiring reads of the composition root (HeartNode provides it)."""

    settings: Settings
    state: str
    bus: EventBus
    metrics: EngineMetrics
    hub: MetricsHub
    exposition: Exposition
    tool_collector: ToolCallCollector | None
    heal_engine: MetacognitiveEngine | None
    demo: DemoRunner | None

    @property
    def security(self) -> SecurityManager: ...

    @property
    def reload(self) -> HotReloadManager: ...

    @property
    def runtime(self) -> ToolRuntime: ...

    @property
    def patches(self) -> ReviewQueue: ...

    @property
    def swarm(self) -> SwarmCoordinator: ...

    def generator(self) -> CodeGenerator: ...

    def status(self) -> NodeStatus: ...

    def retire_generator(self) -> None: ...


def build_facade(node: Parts) -> EngineFacade:
    """One service per feature, each with only the parts it uses."""

    def security() -> SecurityManager:
        return node.security

    def settings() -> Settings:
        return node.settings

    def replace_settings(new: Settings) -> None:
        node.settings = new

    guard = Guard(security)
    swarm = SwarmService(guard, lambda: node.swarm)
    return EngineFacade(
        modules=ModulesService(guard, lambda: node.reload, lambda: node.runtime),
        patches=PatchesService(
            guard,
            queue=lambda: node.patches,
            reload=lambda: node.reload,
            runtime=lambda: node.runtime,
            generator=node.generator,
            capabilities=lambda: node.security.capabilities,
        ),
        metrics=MetricsService(guard, node.hub),
        swarm=swarm,
        audit=AuditService(guard, lambda: node.security.audit),
        admin=AdminService(guard, security),
        sessions=SessionsService(security),
        settings=SettingsService(
            guard,
            settings=settings,
            replace_settings=replace_settings,
            retire_generator=node.retire_generator,
            queue=lambda: node.patches,
            tool_collector=lambda: node.tool_collector,
            hub=node.hub,
        ),
        engine=EngineService(guard, node.status, settings),
        heal=HealService(guard, lambda: node.heal_engine, lambda: node.settings.heal),
        intent=IntentService(
            guard,
            reload=lambda: node.reload,
            settings=settings,
            generator=node.generator,
            swarm=swarm,
        ),
        demo=DemoService(guard, lambda: node.demo),
    )


def api_deps(node: Parts, facade: EngineFacade) -> ApiDeps:
    """What the HTTP and WebSocket API is handed: the facade and a few narrow parts."""
    return ApiDeps(
        facade=facade,
        security=lambda: node.security,
        bus=node.bus,
        state=lambda: node.state,
        metrics=node.metrics,
        exposition=node.exposition,
        predictions=lambda: node.hub.predictions,
    )
